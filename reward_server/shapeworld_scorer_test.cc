#include "reward_server/shapeworld_scorer.h"

#include <gtest/gtest.h>

#include "core/shapeworld/shapeworld_world.h"

namespace maskgrpo::reward {
namespace {

RewardItem Item(const shapeworld::PromptSpec& spec, const shapeworld::Scene& scene) {
  RewardItem item;
  item.prompt = shapeworld::ToPrompt(spec);
  item.image = shapeworld::Render(scene);
  return item;
}

TEST(ShapeWorldScorer, EachNameGivesItsValue) {
  // "two circles": an empty image, one circle, and the two asked for.
  const auto spec = shapeworld::MakeCounting(shapeworld::kCircle, 2);
  shapeworld::Scene empty, one, two;
  one.objects = {{shapeworld::kCircle, shapeworld::kRed, 0, 0}};
  two.objects = {{shapeworld::kCircle, shapeworld::kRed, 0, 0}, {shapeworld::kCircle, shapeworld::kBlue, 4, 4}};
  const RewardItem a = Item(spec, empty), b = Item(spec, one), c = Item(spec, two);
  std::map<std::string, std::vector<double>> got;
  for (const std::string name :
       {"shapeworld_dense", "shapeworld_graded", "shapeworld_binary", "shapeworld_binary_clean",
        "shapeworld_graded_nofrag"}) {
    auto scorer = MakeScorer(name);
    ASSERT_TRUE(scorer.ok()) << scorer.status().ToString();
    EXPECT_EQ((*scorer)->name(), name);
    auto scores = (*scorer)->Score({&a, &b, &c});
    ASSERT_TRUE(scores.ok()) << scores.status().ToString();
    got[name] = *scores;
  }
  // dense: (count credit + "not too many" + no fragments) / 3; graded: count credit only.
  EXPECT_NEAR(got["shapeworld_dense"][0], 2.0 / 3.0, 1e-9);
  EXPECT_NEAR(got["shapeworld_graded"][0], 0.0, 1e-9);
  EXPECT_NEAR(got["shapeworld_graded"][1], 0.5, 1e-9);
  EXPECT_NEAR(got["shapeworld_graded"][2], 1.0, 1e-9);
  EXPECT_EQ(got["shapeworld_binary"], (std::vector<double>{0.0, 0.0, 1.0}));
  // Clean renders hold no fragments, so binary_clean equals the verdict here (the penalty
  // itself: core/shapeworld/scorer_test.cc).
  EXPECT_EQ(got["shapeworld_binary_clean"], (std::vector<double>{0.0, 0.0, 1.0}));
  EXPECT_EQ(got["shapeworld_graded_nofrag"], got["shapeworld_graded"]);
}

TEST(ShapeWorldScorer, UnknownNameListsTheKnownOnes) {
  auto scorer = MakeScorer("shapeworld_sparse");
  ASSERT_FALSE(scorer.ok());
  EXPECT_NE(scorer.status().message().find("shapeworld_graded"), std::string::npos) << scorer.status().ToString();
}

}  // namespace
}  // namespace maskgrpo::reward
