#include "core/image/image_stats.h"

#include <array>
#include <cmath>
#include <cstdlib>
#include <vector>

namespace maskgrpo {

ImageStats ComputeImageStats(const RgbImage& image) {
  ImageStats s;
  if (!image.Valid()) return s;
  const int w = image.width, h = image.height;
  const size_t n = static_cast<size_t>(w) * static_cast<size_t>(h);
  std::vector<int> luma(n);
  std::array<int64_t, 64> histogram{};
  double luma_sum = 0;
  int64_t dark = 0;
  for (size_t i = 0; i < n; ++i) {
    const uint8_t* p = &image.rgb[i * 3];
    // Integer BT.601 weights (299, 587, 114) / 1000, as Pillow's convert("L") rounds them.
    luma[i] = (p[0] * 299 + p[1] * 587 + p[2] * 114 + 500) / 1000;
    luma_sum += luma[i];
    dark += luma[i] < 32;
    histogram[static_cast<size_t>((p[0] >> 6) * 16 + (p[1] >> 6) * 4 + (p[2] >> 6))] += 1;
  }
  int64_t edges = 0;
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) {
      const int c = luma[static_cast<size_t>(y) * w + x];
      const int dx = x + 1 < w ? luma[static_cast<size_t>(y) * w + x + 1] - c : 0;
      const int dy = y + 1 < h ? luma[static_cast<size_t>(y + 1) * w + x] - c : 0;
      edges += std::abs(dx) + std::abs(dy) > 32;
    }
  }
  double entropy = 0;
  for (int64_t count : histogram) {
    if (count == 0) continue;
    const double p = static_cast<double>(count) / static_cast<double>(n);
    entropy -= p * std::log2(p);
  }
  s.brightness = luma_sum / static_cast<double>(n) / 255.0;
  s.dark_fraction = static_cast<double>(dark) / static_cast<double>(n);
  s.edge_density = static_cast<double>(edges) / static_cast<double>(n);
  s.color_entropy = entropy;
  return s;
}

std::map<std::string, double> ImageStatComponents(const ImageStats& s) {
  return {{"stat/brightness", s.brightness},
          {"stat/dark_fraction", s.dark_fraction},
          {"stat/edge_density", s.edge_density},
          {"stat/color_entropy", s.color_entropy}};
}

}  // namespace maskgrpo
