// The training prompt stream: reproducible from (seed, position), uniform over tasks by
// default, in proportion to task_weights when they are set, and task_weights checked.
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "core/grpo/rollout.h"

namespace maskgrpo::grpo {
namespace {

// Six tasks with different numbers of prompts, so that a stream uniform over prompts (not
// tasks) would be told apart from one uniform over tasks.
std::vector<Prompt> SixTasks() {
  std::vector<Prompt> prompts;
  const std::vector<std::pair<std::string, int>> tasks = {{"single_object", 2}, {"two_object", 5}, {"counting", 3},
                                                          {"colors", 4},        {"position", 9},   {"color_attr", 20}};
  for (const auto& [tag, n] : tasks) {
    for (int i = 0; i < n; ++i) prompts.push_back({tag + " prompt " + std::to_string(i), tag, {}, {}});
  }
  return prompts;
}

std::map<std::string, double> TaskShares(PromptStream& stream, int draws) {
  std::map<std::string, double> shares;
  for (int i = 0; i < draws; ++i) shares[stream.Next().tag] += 1.0 / draws;
  return shares;
}

TEST(PromptStreamTest, WithoutWeightsEveryTaskIsDrawnEqually) {
  const auto prompts = SixTasks();
  PromptStream stream(prompts, 7);
  // 12000 draws: a share's standard error is 0.0034, so 0.02 is ~6 of them.
  for (const auto& [tag, share] : TaskShares(stream, 12000)) EXPECT_NEAR(share, 1.0 / 6, 0.02) << tag;
}

TEST(PromptStreamTest, TaskWeightsSetTheTaskShares) {
  const auto prompts = SixTasks();
  // counting 3, position 0 (never drawn), the four unnamed tasks 1 each: 3/7 and 1/7.
  PromptStream stream(prompts, 7, 0, {{"counting", 3.0}, {"position", 0.0}});
  const auto shares = TaskShares(stream, 14000);
  EXPECT_NEAR(shares.at("counting"), 3.0 / 7, 0.02);
  EXPECT_EQ(shares.count("position"), 0u);
  for (const char* tag : {"single_object", "two_object", "colors", "color_attr"}) {
    EXPECT_NEAR(shares.at(tag), 1.0 / 7, 0.02) << tag;
  }
}

TEST(PromptStreamTest, APositionIsAllAResumeNeeds) {
  const auto prompts = SixTasks();
  const std::map<std::string, double> weights = {{"counting", 2.5}};
  for (const auto& w : {std::map<std::string, double>{}, weights}) {
    PromptStream from_start(prompts, 11, 0, w);
    for (int i = 0; i < 37; ++i) from_start.Next();
    PromptStream resumed(prompts, 11, 37, w);
    for (int i = 0; i < 50; ++i) ASSERT_EQ(&from_start.Next(), &resumed.Next()) << "draw " << 37 + i;
    EXPECT_EQ(resumed.position(), 87);
  }
  // The weights change the stream (they would make a resume with other weights diverge).
  PromptStream uniform(prompts, 11), weighted(prompts, 11, 0, weights);
  int differ = 0;
  for (int i = 0; i < 50; ++i) differ += &uniform.Next() != &weighted.Next();
  EXPECT_GT(differ, 10);
}

TEST(PromptStreamTest, BadTaskWeightsAreErrorsNamingTheProblem) {
  const auto prompts = SixTasks();
  EXPECT_TRUE(CheckTaskWeights(prompts, {}).ok());
  EXPECT_TRUE(CheckTaskWeights(prompts, {{"counting", 3.0}, {"colors", 0.0}}).ok());
  auto expect_error = [&](const std::map<std::string, double>& w, const std::string& needle) {
    const Status st = CheckTaskWeights(prompts, w);
    ASSERT_FALSE(st.ok()) << needle;
    EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
    EXPECT_NE(st.message().find(needle), std::string::npos) << st.message();
  };
  expect_error({{"cooking", 2.0}}, "task_weights names 'cooking', which is not a task of the training prompts");
  expect_error({{"cooking", 2.0}}, "'counting'");  // the known tasks are listed
  expect_error({{"counting", -1.0}}, "task_weights['counting'] must be in [0, 1e6], got -1");
  expect_error({{"counting", std::nan("")}}, "got nan");
  expect_error({{"counting", 1e300}}, "got 1e+300");
  std::map<std::string, double> all_zero;
  for (const char* tag : {"single_object", "two_object", "counting", "colors", "position", "color_attr"}) {
    all_zero[tag] = 0.0;
  }
  expect_error(all_zero, "no task with a weight above 0");
}

}  // namespace
}  // namespace maskgrpo::grpo
