#include "core/shapeworld/detector.h"

#include <array>
#include <cstdlib>

namespace maskgrpo::shapeworld {
namespace {

// Pixel label: palette colour index, or -1 for background (grey) pixels.
int Classify(const uint8_t* p) {
  int best = -1, best_d = 60 * 60 * 3;
  for (int c = 0; c < kNumColors; ++c) {
    auto rgb = ColorRgb(c);
    int d = 0;
    for (int i = 0; i < 3; ++i) d += (p[i] - rgb[i]) * (p[i] - rgb[i]);
    if (d < best_d) { best_d = d; best = c; }
  }
  return best;
}

struct Template {
  int x0 = kObjectPixels, y0 = kObjectPixels, x1 = -1, y1 = -1;
  std::array<std::array<bool, kObjectPixels>, kObjectPixels> cover{};
};

const std::array<Template, kNumShapes>& Templates() {
  static const std::array<Template, kNumShapes> templates = [] {
    std::array<Template, kNumShapes> t;
    for (int s = 0; s < kNumShapes; ++s) {
      for (int y = 0; y < kObjectPixels; ++y) {
        for (int x = 0; x < kObjectPixels; ++x) {
          if (!ShapeCovers(s, x, y)) continue;
          t[s].cover[y][x] = true;
          t[s].x0 = std::min(t[s].x0, x); t[s].x1 = std::max(t[s].x1, x);
          t[s].y0 = std::min(t[s].y0, y); t[s].y1 = std::max(t[s].y1, y);
        }
      }
    }
    return t;
  }();
  return templates;
}

}  // namespace

std::vector<Detection> Detect(const Image& image, const DetectorOptions& options) {
  const int W = image.width, H = image.height;
  std::vector<int> label(static_cast<size_t>(W) * H), component(static_cast<size_t>(W) * H, -1);
  for (int y = 0; y < H; ++y)
    for (int x = 0; x < W; ++x) label[y * W + x] = Classify(image.Pixel(x, y));

  std::vector<Detection> out;
  std::vector<int> stack, pixels;
  for (int start = 0; start < W * H; ++start) {
    if (label[start] < 0 || component[start] >= 0) continue;
    // Flood fill one same-colour 4-connected region.
    const int id = start, color = label[start];
    pixels.clear();
    stack.assign(1, start);
    component[start] = id;
    while (!stack.empty()) {
      int p = stack.back();
      stack.pop_back();
      pixels.push_back(p);
      const int px = p % W, py = p / W;
      const int nbr[4][2] = {{px - 1, py}, {px + 1, py}, {px, py - 1}, {px, py + 1}};
      for (const auto& n : nbr) {
        if (n[0] < 0 || n[1] < 0 || n[0] >= W || n[1] >= H) continue;
        int q = n[1] * W + n[0];
        if (component[q] < 0 && label[q] == color) { component[q] = id; stack.push_back(q); }
      }
    }
    if (static_cast<int>(pixels.size()) < options.min_area) continue;
    Detection d;
    d.color = color;
    d.area = static_cast<int>(pixels.size());
    d.x0 = W; d.y0 = H; d.x1 = -1; d.y1 = -1;
    for (int p : pixels) {
      const int px = p % W, py = p / W;
      d.x0 = std::min(d.x0, px); d.x1 = std::max(d.x1, px);
      d.y0 = std::min(d.y0, py); d.y1 = std::max(d.y1, py);
    }
    // Box centres, as GenEval uses: a triangle's centroid would sit low in its box.
    d.center_x = 0.5 * (d.x0 + d.x1);
    d.center_y = 0.5 * (d.y0 + d.y1);
    // Template match: align each template's bounding box with the region's, compute IoU.
    for (int s = 0; s < kNumShapes; ++s) {
      const Template& t = Templates()[s];
      const int ox = d.x0 - t.x0, oy = d.y0 - t.y0;
      int inter = 0, tmpl_area = 0;
      for (int y = 0; y < kObjectPixels; ++y) {
        for (int x = 0; x < kObjectPixels; ++x) {
          if (!t.cover[y][x]) continue;
          ++tmpl_area;
          const int ix = ox + x, iy = oy + y;
          if (ix >= 0 && iy >= 0 && ix < W && iy < H && component[iy * W + ix] == id) ++inter;
        }
      }
      const double iou = static_cast<double>(inter) / (tmpl_area + d.area - inter);
      if (iou > d.iou) { d.iou = iou; d.shape = s; }
    }
    if (d.iou < options.min_iou) d.shape = -1;
    out.push_back(d);
  }
  return out;
}

}  // namespace maskgrpo::shapeworld
