// Cheap statistics of one image, reported next to every reward so that reward hacking
// shows while it happens: a policy that learns to please a reward model with dark, flat,
// noisy or single-coloured images moves these long before a held-out score catches it.
#pragma once

#include <map>
#include <string>

#include "core/image/rgb_image.h"

namespace maskgrpo {

struct ImageStats {
  double brightness = 0;     // mean luma (BT.601) / 255, in [0, 1]
  double dark_fraction = 0;  // share of pixels with luma < 32
  double edge_density = 0;   // share of pixels whose luma gradient |dx| + |dy| exceeds 32
  double color_entropy = 0;  // entropy (bits) of a 4x4x4-bin RGB histogram, in [0, 6]
};

// An invalid image (RgbImage::Valid() false) gives all zeros.
ImageStats ComputeImageStats(const RgbImage& image);

// The statistics as reward components: "stat/brightness", "stat/dark_fraction",
// "stat/edge_density", "stat/color_entropy".
std::map<std::string, double> ImageStatComponents(const ImageStats& stats);

}  // namespace maskgrpo
