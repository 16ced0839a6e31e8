// An 8-bit RGB image, row-major: what decoders produce, reward servers score and PNG
// files hold. Every world's images are of this type.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace maskgrpo {

struct RgbImage {
  int width = 0;
  int height = 0;
  std::vector<uint8_t> rgb;  // height * width * 3 bytes
  const uint8_t* Pixel(int x, int y) const { return &rgb[(static_cast<size_t>(y) * width + x) * 3]; }
  bool Valid() const {
    return width > 0 && height > 0 && rgb.size() == static_cast<size_t>(width) * static_cast<size_t>(height) * 3;
  }
};

}  // namespace maskgrpo
