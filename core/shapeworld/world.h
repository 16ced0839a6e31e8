// ShapeWorld: the embedded default world (docs: shared/docs/shapeworld.md).
//
// 64x64 RGB images on an 8x8 grid of 8x8-pixel patches. Objects are 2x2 patches (16x16 px)
// of one of 4 shapes in one of 6 colours, placed on the patch grid over one of 3 periodic
// background textures. The patch alignment is what makes the fixed codebook exact.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "core/image/rgb_image.h"

namespace maskgrpo::shapeworld {

inline constexpr int kImageSize = 64;
inline constexpr int kPatch = 8;
inline constexpr int kGrid = kImageSize / kPatch;  // 8 patches per side
inline constexpr int kObjectCells = 2;              // objects span 2x2 patches
inline constexpr int kObjectPixels = kObjectCells * kPatch;

enum Shape { kSquare = 0, kCircle, kTriangle, kDiamond, kNumShapes };
enum Color { kRed = 0, kGreen, kBlue, kYellow, kPurple, kOrange, kNumColors };
inline constexpr int kNumTextures = 3;

const char* ShapeName(int shape);        // "square"
const char* ShapePlural(int shape);      // "squares"
const char* ColorName(int color);        // "red"
std::array<uint8_t, 3> ColorRgb(int color);
// Background texture colour at pixel (x, y); textures have period kPatch in both axes.
std::array<uint8_t, 3> TextureRgb(int texture, int x, int y);
// Whether pixel (x, y) of a kObjectPixels square box is inside the shape.
bool ShapeCovers(int shape, int x, int y);

int ShapeFromName(const std::string& name);  // -1 if unknown
int ColorFromName(const std::string& name);  // -1 if unknown

struct Object {
  int shape = kSquare;
  int color = kRed;
  int cell_x = 0;  // top-left patch column, 0..kGrid - kObjectCells
  int cell_y = 0;
};

struct Scene {
  int texture = 0;
  std::vector<Object> objects;
};

// ShapeWorld's images are the project's RGB images, kImageSize x kImageSize.
using Image = RgbImage;

Image Render(const Scene& scene);

}  // namespace maskgrpo::shapeworld
