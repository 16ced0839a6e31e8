#include "core/world/eval_table.h"

#include <gtest/gtest.h>

namespace maskgrpo {
namespace {

TEST(WorldEvalTableTest, OverallIsTheMacroMeanOverTags) {
  EvalTable t;
  t.Add("counting", true);
  t.Add("counting", false);
  t.Add("single_object", true);
  t.Add("my_task", false);
  EXPECT_DOUBLE_EQ(t.TaskScore("counting"), 0.5);
  EXPECT_DOUBLE_EQ(t.Overall(), (0.5 + 1.0 + 0.0) / 3.0);
  EXPECT_EQ(t.images(), 4);
  EXPECT_EQ(t.tags(), (std::vector<std::string>{"single_object", "counting", "my_task"}));
  const Json j = t.ToJson();
  const Json* tasks = j.Find("tasks");
  ASSERT_NE(tasks, nullptr);
  ASSERT_NE(tasks->Find("my_task"), nullptr);
  EXPECT_DOUBLE_EQ(tasks->Find("counting")->as_number(), 0.5);
  EXPECT_EQ(tasks->as_object().size(), 3u);
}

TEST(WorldEvalTableTest, AnEmptyTableWritesAnEmptyObjectOfTasks) {
  // "tasks" must stay an object (readers index it by tag), never null.
  const Json j = EvalTable().ToJson();
  const Json* tasks = j.Find("tasks");
  ASSERT_NE(tasks, nullptr);
  ASSERT_TRUE(tasks->is_object()) << j.Dump();
  EXPECT_TRUE(tasks->as_object().empty());
  EXPECT_NE(j.Dump().find(R"("tasks":{})"), std::string::npos) << j.Dump();
}

}  // namespace
}  // namespace maskgrpo
