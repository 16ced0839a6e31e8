#include "core/image/image_stats.h"

#include <gtest/gtest.h>

namespace maskgrpo {
namespace {

RgbImage Solid(int w, int h, uint8_t r, uint8_t g, uint8_t b) {
  RgbImage img;
  img.width = w;
  img.height = h;
  for (int i = 0; i < w * h; ++i) img.rgb.insert(img.rgb.end(), {r, g, b});
  return img;
}

TEST(ImageStats, SolidImagesHaveNoEdgesAndNoEntropy) {
  const auto black = ComputeImageStats(Solid(8, 8, 0, 0, 0));
  EXPECT_DOUBLE_EQ(black.brightness, 0.0);
  EXPECT_DOUBLE_EQ(black.dark_fraction, 1.0);
  EXPECT_DOUBLE_EQ(black.edge_density, 0.0);
  EXPECT_DOUBLE_EQ(black.color_entropy, 0.0);
  const auto white = ComputeImageStats(Solid(8, 8, 255, 255, 255));
  EXPECT_DOUBLE_EQ(white.brightness, 1.0);
  EXPECT_DOUBLE_EQ(white.dark_fraction, 0.0);
}

TEST(ImageStats, HalfBlackHalfWhiteVerticalSplit) {
  RgbImage img = Solid(4, 4, 0, 0, 0);
  for (int y = 0; y < 4; ++y)
    for (int x = 2; x < 4; ++x)
      for (int c = 0; c < 3; ++c) img.rgb[(y * 4 + x) * 3 + c] = 255;
  const auto s = ComputeImageStats(img);
  EXPECT_DOUBLE_EQ(s.brightness, 0.5);
  EXPECT_DOUBLE_EQ(s.dark_fraction, 0.5);
  EXPECT_DOUBLE_EQ(s.edge_density, 4.0 / 16.0);  // the column left of the boundary
  EXPECT_DOUBLE_EQ(s.color_entropy, 1.0);        // two equally likely colours
  EXPECT_EQ(ImageStatComponents(s).size(), 4u);
  EXPECT_DOUBLE_EQ(ImageStatComponents(s).at("stat/color_entropy"), 1.0);
}

TEST(ImageStats, AnInvalidImageGivesZerosNotACrash) {
  RgbImage bad;
  bad.width = 4;
  bad.height = 4;
  bad.rgb.resize(5);
  const auto s = ComputeImageStats(bad);
  EXPECT_DOUBLE_EQ(s.brightness, 0.0);
  EXPECT_DOUBLE_EQ(s.edge_density, 0.0);
}

}  // namespace
}  // namespace maskgrpo
