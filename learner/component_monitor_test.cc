#include "learner/component_monitor.h"

#include <gtest/gtest.h>

namespace maskgrpo::learner {
namespace {

TEST(ComponentMonitor, MeansOverSamplesAndABaselineOfTheFirstUpdates) {
  ComponentValues a{{"stat/brightness", {0.2, 0.4}}, {"clip", {1, 1}}}, b{{"stat/brightness", {0.6, 0.8}}};
  auto means = ComponentMeans({&a, &b});
  EXPECT_DOUBLE_EQ(means.at("stat/brightness"), 0.5);
  EXPECT_DOUBLE_EQ(means.at("clip"), 1.0);

  ComponentMonitor m(2);
  m.Record(1, 0.1, {{"stat/brightness", 0.5}});
  EXPECT_FALSE(m.baseline_ready());
  m.Record(2, 0.3, {{"stat/brightness", 0.7}});
  m.Record(3, 0.9, {{"stat/brightness", 0.0}});  // after the baseline window: not counted
  EXPECT_TRUE(m.baseline_ready());
  EXPECT_DOUBLE_EQ(m.baseline().at("stat/brightness"), 0.6);
  EXPECT_DOUBLE_EQ(m.reward_baseline(), 0.2);

  // A resumed learner rebuilds the same baseline from its metrics.jsonl lines.
  std::vector<Json> lines;
  for (auto [v, r, bright] : std::vector<std::tuple<int, double, double>>{{1, 0.1, 0.5}, {2, 0.3, 0.7}, {3, 0.9, 0.0}}) {
    Json line;
    line["version"] = v;
    line["reward_mean"] = r;
    line["components"]["stat/brightness"] = bright;
    lines.push_back(line);
  }
  ComponentMonitor resumed(2);
  resumed.Replay(lines);
  EXPECT_EQ(resumed.baseline(), m.baseline());
  EXPECT_DOUBLE_EQ(resumed.reward_baseline(), m.reward_baseline());
}

}  // namespace
}  // namespace maskgrpo::learner
