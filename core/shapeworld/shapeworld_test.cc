#include <gtest/gtest.h>

#include <random>
#include <set>

#include "core/shapeworld/dataset.h"
#include "core/shapeworld/detector.h"
#include "core/image/png.h"
#include "core/shapeworld/scorer.h"

namespace maskgrpo::shapeworld {
namespace {

const World& TheWorld() {
  static const World world;
  return world;
}

TEST(ShapeWorldTest, CodebookCoversEveryPatchAndRoundTripsExactly) {
  const auto& w = TheWorld();
  EXPECT_EQ(w.image.num_codes(), kNumTextures + kNumTextures * kNumShapes * kNumColors * 4);
  std::mt19937_64 rng(3);
  int checked = 0;
  for (const auto* list : {&w.split.train, &w.split.heldout}) {
    for (size_t i = 0; i < list->size(); i += 7) {
      Image img = Render(SampleScene((*list)[i], rng));
      auto codes = w.image.Encode(img);
      Image back;
      ASSERT_TRUE(w.image.Decode(codes, &back));
      EXPECT_EQ(back.rgb, img.rgb) << (*list)[i].text;
      ++checked;
    }
  }
  EXPECT_GT(checked, 50);
  Image bad;
  EXPECT_FALSE(w.image.Decode(std::vector<int64_t>(64, w.image.num_codes()), &bad));
}

TEST(ShapeWorldTest, HeldOutSplitSharesNoCombinationAndCoversEveryTask) {
  const auto& s = TheWorld().split;
  std::set<std::string> train_keys;
  for (const auto& p : s.train) train_keys.insert(p.CombinationKey());
  std::set<int> heldout_tasks;
  for (const auto& p : s.heldout) {
    EXPECT_FALSE(train_keys.count(p.CombinationKey())) << p.text;
    heldout_tasks.insert(static_cast<int>(p.task));
  }
  EXPECT_EQ(static_cast<int>(heldout_tasks.size()), kNumTasks);
  EXPECT_GT(s.train.size(), 3 * s.heldout.size() / 2);
}

TEST(ShapeWorldTest, PromptsUseGenEvalPhrasingAndSchema) {
  EXPECT_EQ(MakeCounting(kSquare, 3).text, "a photo of three squares");
  EXPECT_EQ(MakePosition(kCircle, Relation::kLeftOf, kTriangle).text, "a photo of a circle left of a triangle");
  EXPECT_EQ(MakeColorAttr(kSquare, kOrange, kDiamond, kBlue).text, "a photo of an orange square and a blue diamond");
  auto j = MakePosition(kCircle, Relation::kRightOf, kTriangle).ToJson();
  EXPECT_EQ(j.Find("tag")->as_string(), "position");
  const auto& inc = j.Find("include")->as_array();
  ASSERT_EQ(inc.size(), 2u);
  EXPECT_EQ(inc[0].Find("class")->as_string(), "triangle");
  EXPECT_EQ(inc[1].Find("position")->as_array()[0].as_string(), "right of");
  auto counting = MakeCounting(kDiamond, 2).ToJson();
  EXPECT_EQ(counting.Find("exclude")->as_array()[0].Find("count")->as_number(), 3);
}

TEST(ShapeWorldTest, TextTokenizerEncodesWorldPromptsAndRejectsUnknownWords) {
  const auto& w = TheWorld();
  for (const auto& p : w.split.train) {
    auto ids = w.text.Encode(p.text, 16);
    ASSERT_TRUE(ids.ok()) << p.text;
    EXPECT_EQ(w.text.Decode(*ids), p.text);
  }
  auto bad = w.text.Encode("a photo of a dog", 16);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("'dog'"), std::string::npos);
  EXPECT_FALSE(w.text.Encode("a photo of a red square and a blue circle", 8).ok());
}

TEST(DetectorTest, AtLeast99PercentCorrectOnGroundTruthRendersOfHeldOutPrompts) {
  const auto& w = TheWorld();
  std::mt19937_64 rng(17);
  int total = 0, correct = 0;
  for (const auto& p : w.split.heldout) {
    for (int k = 0; k < 3; ++k) {
      Scene scene = SampleScene(p, rng);
      auto dets = Detect(Render(scene));
      auto score = ScoreDetections(p, dets);
      ++total;
      correct += score.correct;
      EXPECT_DOUBLE_EQ(score.dense, 1.0) << p.text << ": " << score.reason;
    }
  }
  EXPECT_GE(correct, 0.99 * total) << correct << "/" << total;
}

TEST(DetectorTest, FindsShapesColoursAndPositionsOfAKnownScene) {
  Scene scene{1, {Object{kTriangle, kBlue, 0, 0}, Object{kCircle, kRed, 5, 4}, Object{kSquare, kBlue, 0, 5}}};
  auto dets = Detect(Render(scene));
  ASSERT_EQ(dets.size(), 3u);
  std::set<std::pair<int, int>> found;
  for (const auto& d : dets) {
    found.insert({d.shape, d.color});
    EXPECT_GT(d.iou, 0.99);
  }
  EXPECT_TRUE(found.count({kTriangle, kBlue}));
  EXPECT_TRUE(found.count({kCircle, kRed}));
  EXPECT_TRUE(found.count({kSquare, kBlue}));
  for (const auto& d : dets) {
    if (d.shape == kCircle) {
      EXPECT_NEAR(d.center_x, 5 * 8 + 7.5, 0.6);
      EXPECT_NEAR(d.center_y, 4 * 8 + 7.5, 0.6);
    }
  }
}

TEST(DetectorTest, MismatchedQuartersAreFragmentsNotObjects) {
  const auto& w = TheWorld();
  // Top half of a red square over the bottom half of a blue circle.
  auto red_square = w.image.Encode(Render(Scene{0, {Object{kSquare, kRed, 2, 2}}}));
  auto blue_circle = w.image.Encode(Render(Scene{0, {Object{kCircle, kBlue, 2, 2}}}));
  auto mixed = red_square;
  for (int i = 24; i < 32; ++i) mixed[i] = blue_circle[i];  // patch row 3: the object's lower half
  Image img;
  ASSERT_TRUE(w.image.Decode(mixed, &img));
  auto dets = Detect(img);
  ASSERT_EQ(dets.size(), 2u);
  for (const auto& d : dets) EXPECT_EQ(d.shape, -1);
  auto score = ScoreDetections(MakeSingleObject(kSquare), dets);
  EXPECT_FALSE(score.correct);
  EXPECT_LT(score.dense, 0.5);
}

TEST(PngTest, WritesAValidSignatureAndGridSize) {
  Image img = Render(Scene{0, {Object{kSquare, kRed, 1, 1}}});
  auto png = EncodePng(img);
  EXPECT_EQ(png.substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8));
  EXPECT_NE(png.find("IHDR"), std::string::npos);
  EXPECT_NE(png.find("IEND"), std::string::npos);
  auto grid = MakeGrid({img, img, img}, {"a photo of a red square", "b", "c"}, 2, 2);
  EXPECT_EQ(grid.width, 2 * (64 * 2 + 8));
  EXPECT_EQ(grid.rgb.size(), static_cast<size_t>(grid.width) * grid.height * 3);
}

}  // namespace
}  // namespace maskgrpo::shapeworld
