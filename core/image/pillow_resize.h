// Pillow's Image.resize for 8-bit RGB, reimplemented so that C++ reward scoring sees the same
// pixels as the Python reward models did (open_clip, HF CLIPImageProcessor, ImageReward and the
// aesthetic predictor all resize PIL images). Torch's tensor interpolation differs by several
// 0-255 levels (see clip_preprocess_test.cc), which is enough to move reward scores.
#pragma once

#include "core/image/rgb_image.h"

namespace maskgrpo {

// Pillow's Image.Resampling values, so that configs can carry the same numbers as Python.
enum class ResampleFilter : int {
  kBilinear = 2,  // triangle filter, support 1
  kBicubic = 3,   // Keys cubic with a = -0.5, support 2
};

// Bit-identical to `PIL.Image.fromarray(rgb).resize((out_w, out_h), filter)` with the default
// box and no reducing_gap (checked against Pillow 9.4 by clip_preprocess_test.cc).
// Returns an empty image (Valid() == false) when `in` is not Valid() or a size is < 1; callers
// that hold user input should validate it first and report a Status.
RgbImage PillowResize(const RgbImage& in, int out_w, int out_h, ResampleFilter filter = ResampleFilter::kBicubic);

}  // namespace maskgrpo
