#include "core/shapeworld/scorer.h"

#include <gtest/gtest.h>

#include "core/shapeworld/shapeworld_world.h"

namespace maskgrpo::shapeworld {
namespace {

Detection D(int shape, int color, double x, double y) {
  Detection d;
  d.shape = shape;
  d.color = color;
  d.center_x = x;
  d.center_y = y;
  d.iou = 1.0;
  return d;
}

TEST(ScorerTest, SingleObject) {
  auto p = MakeSingleObject(kCircle);
  EXPECT_TRUE(ScoreDetections(p, {D(kCircle, kRed, 10, 10)}).correct);
  EXPECT_TRUE(ScoreDetections(p, {D(kCircle, kRed, 10, 10), D(kSquare, kBlue, 40, 40)}).correct);  // extras allowed
  EXPECT_FALSE(ScoreDetections(p, {D(kSquare, kRed, 10, 10)}).correct);
  EXPECT_FALSE(ScoreDetections(p, {}).correct);
}

TEST(ScorerTest, CountsFragmentsAndBinaryCleanSubtractsACappedPenalty) {
  auto p = MakeCounting(kDiamond, 2);
  const Detection fragment = D(-1, kRed, 20, 20);
  std::vector<Detection> two{D(kDiamond, kRed, 5, 5), D(kDiamond, kBlue, 50, 50)};
  auto clean = ScoreDetections(p, two);
  EXPECT_TRUE(clean.correct);
  EXPECT_EQ(clean.fragments, 0);
  auto with_two = two;
  with_two.insert(with_two.end(), 2, fragment);
  auto broken = ScoreDetections(p, with_two);
  EXPECT_TRUE(broken.correct);  // GenEval's rule ignores fragments
  EXPECT_EQ(broken.fragments, 2);
  EXPECT_NEAR(RewardByName("binary_clean", clean), 1.0, 1e-12);
  EXPECT_NEAR(RewardByName("binary_clean", broken), 1.0 - 2 * kFragmentPenalty, 1e-12);
  EXPECT_EQ(RewardByName("binary", broken), 1.0);
  // A failing image is ranked by its fragments too, down to the cap.
  std::vector<Detection> shards(7, fragment);
  auto failed = ScoreDetections(p, shards);
  EXPECT_FALSE(failed.correct);
  EXPECT_EQ(failed.fragments, 7);
  EXPECT_NEAR(RewardByName("binary_clean", failed), -kFragmentPenalty * kMaxPenalisedFragments, 1e-12);
  EXPECT_LT(RewardByName("binary_clean", failed), RewardByName("binary_clean", ScoreDetections(p, {fragment})));
}

TEST(ScorerTest, TwoObject) {
  auto p = MakeTwoObject(kSquare, kTriangle);
  EXPECT_TRUE(ScoreDetections(p, {D(kTriangle, kRed, 10, 10), D(kSquare, kRed, 40, 40)}).correct);
  auto half = ScoreDetections(p, {D(kSquare, kRed, 40, 40)});
  EXPECT_FALSE(half.correct);
  EXPECT_NEAR(half.dense, (1.0 + 0.0 + 1.0) / 3.0, 1e-9);  // square yes, triangle no, no fragments
}

TEST(ScorerTest, CountingIsExact) {
  auto p = MakeCounting(kDiamond, 3);
  std::vector<Detection> three{D(kDiamond, kRed, 5, 5), D(kDiamond, kBlue, 30, 5), D(kDiamond, kRed, 50, 50)};
  EXPECT_TRUE(ScoreDetections(p, three).correct);
  auto four = three;
  four.push_back(D(kDiamond, kGreen, 5, 50));
  EXPECT_FALSE(ScoreDetections(p, four).correct);
  three.pop_back();
  auto two = ScoreDetections(p, three);
  EXPECT_FALSE(two.correct);
  EXPECT_NEAR(two.dense, (2.0 / 3.0 + 1.0 + 1.0) / 3.0, 1e-9);
}

TEST(ScorerTest, Colors) {
  auto p = MakeColors(kSquare, kYellow);
  EXPECT_TRUE(ScoreDetections(p, {D(kSquare, kYellow, 10, 10)}).correct);
  auto wrong = ScoreDetections(p, {D(kSquare, kPurple, 10, 10)});
  EXPECT_FALSE(wrong.correct);
  EXPECT_NEAR(wrong.dense, (0.5 + 1.0) / 2.0, 1e-9);  // half credit for the right shape
}

TEST(ScorerTest, PositionUsesTheTenPercentThreshold) {
  auto p = MakePosition(kCircle, Relation::kLeftOf, kSquare);  // circle left of square
  EXPECT_TRUE(ScoreDetections(p, {D(kCircle, kRed, 10, 30), D(kSquare, kRed, 40, 30)}).correct);
  EXPECT_FALSE(ScoreDetections(p, {D(kCircle, kRed, 40, 30), D(kSquare, kRed, 10, 30)}).correct);
  // Centres closer than 6.4 px: not "left of".
  EXPECT_FALSE(ScoreDetections(p, {D(kCircle, kRed, 30, 10), D(kSquare, kRed, 35, 50)}).correct);
  auto below = MakePosition(kTriangle, Relation::kBelow, kDiamond);
  EXPECT_TRUE(ScoreDetections(below, {D(kTriangle, kRed, 10, 50), D(kDiamond, kRed, 10, 10)}).correct);
  EXPECT_FALSE(ScoreDetections(below, {D(kTriangle, kRed, 10, 10), D(kDiamond, kRed, 10, 50)}).correct);
}

TEST(ScorerTest, ColorAttributionBindsColoursToClasses) {
  auto p = MakeColorAttr(kSquare, kRed, kCircle, kBlue);
  EXPECT_TRUE(ScoreDetections(p, {D(kSquare, kRed, 10, 10), D(kCircle, kBlue, 40, 40)}).correct);
  EXPECT_FALSE(ScoreDetections(p, {D(kSquare, kBlue, 10, 10), D(kCircle, kRed, 40, 40)}).correct);  // swapped
}

Detection WithIou(Detection d, double iou) {
  d.iou = iou;
  return d;
}

// GenEval judges only the top-`count` detections of a class by confidence (the template IoU):
// extra objects are no second chance.
TEST(ScorerTest, ColourIsJudgedOnTheMostConfidentObjectOfTheClassOnly) {
  auto p = MakeColors(kSquare, kYellow);
  const Detection yellow = WithIou(D(kSquare, kYellow, 10, 10), 0.90);
  const Detection purple = WithIou(D(kSquare, kPurple, 40, 40), 0.95);
  auto r = ScoreDetections(p, {yellow, purple});
  EXPECT_FALSE(r.correct);
  EXPECT_NE(r.reason.find("yellow"), std::string::npos) << r.reason;
  EXPECT_TRUE(ScoreDetections(p, {WithIou(yellow, 0.97), purple}).correct);
  // Colour binding in color_attr: the red square must be the best square.
  auto attr = MakeColorAttr(kSquare, kRed, kCircle, kBlue);
  EXPECT_FALSE(ScoreDetections(attr, {WithIou(D(kSquare, kBlue, 10, 10), 0.99), WithIou(D(kSquare, kRed, 40, 10), 0.9),
                                      D(kCircle, kBlue, 40, 40)})
                   .correct);
}

TEST(ScorerTest, ARelationMustHoldForTheJudgedObjectsNotForAnyPair) {
  auto p = MakePosition(kCircle, Relation::kLeftOf, kSquare);  // circle left of square
  const Detection square = D(kSquare, kRed, 32, 30);
  const Detection left = WithIou(D(kCircle, kRed, 10, 30), 0.90);
  const Detection right = WithIou(D(kCircle, kRed, 55, 30), 0.95);
  // The best circle is on the wrong side: wrong, though another circle is on the right side.
  auto r = ScoreDetections(p, {square, left, right});
  EXPECT_FALSE(r.correct);
  EXPECT_NE(r.reason.find("not left of"), std::string::npos) << r.reason;
  EXPECT_TRUE(ScoreDetections(p, {square, WithIou(left, 0.99), right}).correct);
  // The reference is judged the same way: the most confident square.
  const Detection far_square = WithIou(D(kSquare, kRed, 5, 50), 0.99);
  EXPECT_FALSE(ScoreDetections(p, {WithIou(square, 0.9), left, far_square}).correct);
  EXPECT_TRUE(ScoreDetections(p, {square, left, far_square}).correct);
  // No reference object: the relation cannot hold.
  auto none = ScoreDetections(p, {left});
  EXPECT_FALSE(none.correct);
  EXPECT_NE(none.reason.find("expected 1 square, found 0"), std::string::npos) << none.reason;
}

TEST(ScorerTest, ClutterDoesNotPay) {
  // With one of each class the relation is right or wrong; adding more objects of either
  // class must never turn a wrong image right unless a more confident object is right.
  auto p = MakePosition(kTriangle, Relation::kAbove, kDiamond);
  const Detection diamond = D(kDiamond, kGreen, 30, 30);
  const Detection low = D(kTriangle, kGreen, 30, 55);  // below the diamond: wrong
  ASSERT_FALSE(ScoreDetections(p, {diamond, low}).correct);
  EXPECT_FALSE(ScoreDetections(p, {diamond, low, WithIou(D(kTriangle, kRed, 30, 5), 0.5)}).correct);
  EXPECT_FALSE(ScoreDetections(p, {diamond, low, WithIou(D(kDiamond, kRed, 30, 60), 0.5)}).correct);
}

TEST(ScorerTest, FragmentsCostDenseCreditButNotTheVerdict) {
  auto p = MakeSingleObject(kSquare);
  auto clean = ScoreDetections(p, {D(kSquare, kRed, 10, 10)});
  auto frag = ScoreDetections(p, {D(kSquare, kRed, 10, 10), D(-1, kBlue, 40, 40)});
  EXPECT_TRUE(frag.correct);
  EXPECT_LT(frag.dense, clean.dense);
}

TEST(ScorerTest, GradedIsZeroForAnEmptyImageAndOneForACleanCorrectOne) {
  // dense gives an empty image credit for "no fragments" and "not too many"; graded does not.
  auto counting = MakeCounting(kDiamond, 3);
  EXPECT_NEAR(ScoreDetections(counting, {}).dense, 2.0 / 3.0, 1e-9);
  EXPECT_EQ(ScoreDetections(counting, {}).graded, 0.0);
  EXPECT_EQ(ScoreDetections(MakeSingleObject(kCircle), {}).graded, 0.0);
  std::vector<Detection> three{D(kDiamond, kRed, 5, 5), D(kDiamond, kBlue, 30, 5), D(kDiamond, kRed, 50, 50)};
  EXPECT_NEAR(ScoreDetections(counting, three).graded, 1.0, 1e-9);
  auto two = three;
  two.pop_back();
  EXPECT_NEAR(ScoreDetections(counting, two).graded, 2.0 / 3.0, 1e-9);
  auto four = three;
  four.push_back(D(kDiamond, kGreen, 5, 50));
  EXPECT_NEAR(ScoreDetections(counting, four).graded, 0.5, 1e-9);  // too many halves the credit
  // One object of two earns half; a fragment scales the credit by 1 / (1 + 0.5).
  auto pair = MakeTwoObject(kSquare, kTriangle);
  EXPECT_NEAR(ScoreDetections(pair, {D(kSquare, kRed, 40, 40)}).graded, 0.5, 1e-9);
  EXPECT_NEAR(ScoreDetections(pair, {D(kSquare, kRed, 40, 40), D(-1, kRed, 5, 5)}).graded, 0.5 / 1.5, 1e-9);
}

TEST(ScorerTest, GradedNofragIsGradedWithoutTheFragmentCharge) {
  auto pair = MakeTwoObject(kSquare, kTriangle);
  const std::vector<Detection> one{D(kSquare, kRed, 40, 40)};
  const std::vector<Detection> one_broken{D(kSquare, kRed, 40, 40), D(-1, kRed, 5, 5), D(-1, kBlue, 60, 5)};
  EXPECT_NEAR(ScoreDetections(pair, one).graded_nofrag, 0.5, 1e-9);
  EXPECT_NEAR(ScoreDetections(pair, one_broken).graded_nofrag, 0.5, 1e-9);  // fragments cost nothing
  EXPECT_NEAR(ScoreDetections(pair, one_broken).graded, 0.5 / 2.0, 1e-9);
  EXPECT_NEAR(RewardByName("graded_nofrag", ScoreDetections(pair, one_broken)), 0.5, 1e-9);
  // Still 0 for an empty image, and too many still halves the credit.
  EXPECT_EQ(ScoreDetections(pair, {}).graded_nofrag, 0.0);
  auto counting = MakeCounting(kDiamond, 1);
  EXPECT_NEAR(ScoreDetections(counting, {D(kDiamond, kRed, 5, 5), D(kDiamond, kRed, 40, 40)}).graded_nofrag, 0.5,
              1e-9);
}

TEST(ScorerTest, GradedPositionRisesAsTheObjectMovesTowardsTheAskedSide) {
  auto p = MakePosition(kCircle, Relation::kLeftOf, kSquare);
  auto at = [&](double circle_x) {
    return ScoreDetections(p, {D(kCircle, kRed, circle_x, 30), D(kSquare, kRed, 32, 30)}).graded;
  };
  // Both objects present: (1 + 1 + relation) / 3, relation 0 at the wrong-side threshold,
  // 0.25 when level, 1 once the verdict holds.
  EXPECT_NEAR(at(32 + kPositionThreshold), 2.0 / 3.0, 1e-9);
  EXPECT_NEAR(at(32), 2.25 / 3.0, 1e-9);
  EXPECT_NEAR(at(32 - kPositionThreshold - 1), 1.0, 1e-9);
  EXPECT_LT(at(40), at(34));
}

TEST(EvalTableTest, OverallIsTheMeanOfTaskScores) {
  EvalTable t;
  t.Add(Task::kSingleObject, true);
  t.Add(Task::kSingleObject, true);
  t.Add(Task::kPosition, false);
  t.Add(Task::kPosition, true);
  EXPECT_DOUBLE_EQ(t.TaskScore(Task::kPosition), 0.5);
  EXPECT_DOUBLE_EQ(t.Overall(), 0.75);
  auto j = t.ToJson();
  EXPECT_EQ(j.Find("images")->as_number(), 4);
  EXPECT_DOUBLE_EQ(j.Find("tasks")->Find("single_object")->as_number(), 1.0);
}

}  // namespace
}  // namespace maskgrpo::shapeworld
