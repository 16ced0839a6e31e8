#include "core/shapeworld/world.h"

#include <cmath>
#include <cstdlib>

namespace maskgrpo::shapeworld {
namespace {

const char* const kShapeNames[] = {"square", "circle", "triangle", "diamond"};
const char* const kShapePlurals[] = {"squares", "circles", "triangles", "diamonds"};
const char* const kColorNames[] = {"red", "green", "blue", "yellow", "purple", "orange"};
// Saturated colours, far from the grey textures and from each other.
constexpr uint8_t kPalette[][3] = {{220, 30, 30}, {30, 170, 50}, {40, 70, 230},
                                   {235, 215, 30}, {150, 40, 190}, {245, 130, 20}};

}  // namespace

const char* ShapeName(int shape) { return kShapeNames[shape]; }
const char* ShapePlural(int shape) { return kShapePlurals[shape]; }
const char* ColorName(int color) { return kColorNames[color]; }
std::array<uint8_t, 3> ColorRgb(int color) { return {kPalette[color][0], kPalette[color][1], kPalette[color][2]}; }

int ShapeFromName(const std::string& name) {
  for (int i = 0; i < kNumShapes; ++i) if (name == kShapeNames[i] || name == kShapePlurals[i]) return i;
  return -1;
}
int ColorFromName(const std::string& name) {
  for (int i = 0; i < kNumColors; ++i) if (name == kColorNames[i]) return i;
  return -1;
}

std::array<uint8_t, 3> TextureRgb(int texture, int x, int y) {
  auto grey = [](uint8_t v) { return std::array<uint8_t, 3>{v, v, v}; };
  switch (texture) {
    case 0: return grey(120);                                             // flat
    case 1: return grey(((x / 4) + (y / 4)) % 2 ? 150 : 90);              // 4-px checker
    default: return grey(((x + y) % kPatch) < kPatch / 2 ? 200 : 60);     // diagonal stripes
  }
}

bool ShapeCovers(int shape, int x, int y) {
  const double cx = x - 7.5, cy = y - 7.5;  // centre of the 16x16 box
  switch (shape) {
    case kSquare: return std::fabs(cx) <= 6.0 && std::fabs(cy) <= 6.0;
    case kCircle: return cx * cx + cy * cy <= 7.0 * 7.0;
    case kTriangle: {
      // Apex at the top (row 1), base at row 14.
      if (y < 1 || y > 14) return false;
      const double half = 0.5 + 7.0 * (y - 1) / 13.0;
      return std::fabs(cx) <= half;
    }
    case kDiamond: return std::fabs(cx) + std::fabs(cy) <= 7.5;
    default: return false;
  }
}

Image Render(const Scene& scene) {
  Image img;
  img.width = img.height = kImageSize;
  img.rgb.resize(static_cast<size_t>(kImageSize) * kImageSize * 3);
  for (int y = 0; y < kImageSize; ++y) {
    for (int x = 0; x < kImageSize; ++x) {
      auto c = TextureRgb(scene.texture, x, y);
      std::copy(c.begin(), c.end(), &img.rgb[(static_cast<size_t>(y) * kImageSize + x) * 3]);
    }
  }
  for (const auto& obj : scene.objects) {
    auto c = ColorRgb(obj.color);
    const int x0 = obj.cell_x * kPatch, y0 = obj.cell_y * kPatch;
    for (int y = 0; y < kObjectPixels; ++y) {
      for (int x = 0; x < kObjectPixels; ++x) {
        if (!ShapeCovers(obj.shape, x, y)) continue;
        std::copy(c.begin(), c.end(), &img.rgb[(static_cast<size_t>(y0 + y) * kImageSize + x0 + x) * 3]);
      }
    }
  }
  return img;
}

}  // namespace maskgrpo::shapeworld
