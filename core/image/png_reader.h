// Reading PNG files into RgbImage: 8-bit greyscale, grey+alpha, RGB or RGBA, not interlaced,
// every filter type (alpha is dropped, as PIL's convert("RGB") does). Needs zlib (found by
// CMake); without it every read is an error saying so. Hostile files are errors, never crashes.
#pragma once

#include <string>

#include "core/image/rgb_image.h"
#include "core/status.h"

namespace maskgrpo {

StatusOr<RgbImage> DecodePng(const std::string& bytes, const std::string& name = "png");
StatusOr<RgbImage> ReadPng(const std::string& path);

}  // namespace maskgrpo
