#include "core/image/png_reader.h"

#include <cstdlib>
#include <cstring>

#include "core/safetensors.h"

#ifdef MASKGRPO_HAVE_ZLIB
#include <zlib.h>
#endif

namespace maskgrpo {
namespace {

constexpr int64_t kMaxPixels = int64_t{1} << 26;  // 8192 x 8192

uint32_t Be32(const std::string& s, size_t at) {
  return (uint32_t(uint8_t(s[at])) << 24) | (uint32_t(uint8_t(s[at + 1])) << 16) | (uint32_t(uint8_t(s[at + 2])) << 8) |
         uint32_t(uint8_t(s[at + 3]));
}

int Paeth(int a, int b, int c) {
  const int p = a + b - c, pa = std::abs(p - a), pb = std::abs(p - b), pc = std::abs(p - c);
  if (pa <= pb && pa <= pc) return a;
  return pb <= pc ? b : c;
}

}  // namespace

StatusOr<RgbImage> DecodePng(const std::string& bytes, const std::string& name) {
#ifndef MASKGRPO_HAVE_ZLIB
  return FailedPrecondition(name + ": reading PNG needs zlib, which this build was made without");
#else
  static const char kSignature[] = "\x89PNG\r\n\x1a\n";
  if (bytes.size() < 8 || std::memcmp(bytes.data(), kSignature, 8) != 0) return InvalidArgument(name + ": not a PNG file");
  size_t at = 8;
  uint32_t width = 0, height = 0;
  int channels = 0;
  std::string idat;
  bool header = false, end = false;
  while (!end) {
    if (at + 12 > bytes.size()) return InvalidArgument(name + ": truncated (no IEND chunk)");
    const uint32_t length = Be32(bytes, at);
    const std::string type = bytes.substr(at + 4, 4);
    if (length > bytes.size() - at - 12) return InvalidArgument(name + ": chunk " + type + " runs past the end of the file");
    const size_t data = at + 8;
    if (type == "IHDR") {
      if (length != 13) return InvalidArgument(name + ": IHDR has " + std::to_string(length) + " bytes, not 13");
      width = Be32(bytes, data);
      height = Be32(bytes, data + 4);
      const int depth = uint8_t(bytes[data + 8]), color = uint8_t(bytes[data + 9]);
      const int interlace = uint8_t(bytes[data + 12]);
      if (depth != 8) return InvalidArgument(name + ": bit depth " + std::to_string(depth) + " (only 8 is read)");
      switch (color) {
        case 0: channels = 1; break;
        case 2: channels = 3; break;
        case 4: channels = 2; break;
        case 6: channels = 4; break;
        default: return InvalidArgument(name + ": colour type " + std::to_string(color) + " (palette images are not read)");
      }
      if (interlace != 0) return InvalidArgument(name + ": interlaced PNGs are not read");
      // Each side first, so that the product cannot overflow (found by fuzzing).
      if (width == 0 || height == 0 || width > kMaxPixels || height > kMaxPixels ||
          int64_t{width} * height > kMaxPixels) {
        return InvalidArgument(name + ": image size " + std::to_string(width) + "x" + std::to_string(height) + " not allowed");
      }
      header = true;
    } else if (type == "IDAT") {
      if (!header) return InvalidArgument(name + ": IDAT before IHDR");
      idat.append(bytes, data, length);
    } else if (type == "IEND") {
      end = true;
    }
    at = data + length + 4;  // + CRC
  }
  if (!header) return InvalidArgument(name + ": no IHDR chunk");
  const size_t stride = size_t{width} * channels;
  std::string raw((stride + 1) * height, '\0');
  uLongf raw_size = raw.size();
  const int rc = uncompress(reinterpret_cast<Bytef*>(&raw[0]), &raw_size, reinterpret_cast<const Bytef*>(idat.data()),
                            idat.size());
  if (rc != Z_OK || raw_size != raw.size()) return InvalidArgument(name + ": the image data does not inflate to its size");
  std::vector<uint8_t> prev(stride, 0), cur(stride);
  RgbImage out;
  out.width = static_cast<int>(width);
  out.height = static_cast<int>(height);
  out.rgb.resize(size_t{width} * height * 3);
  for (uint32_t y = 0; y < height; ++y) {
    const uint8_t filter = uint8_t(raw[y * (stride + 1)]);
    const uint8_t* in = reinterpret_cast<const uint8_t*>(&raw[y * (stride + 1) + 1]);
    for (size_t i = 0; i < stride; ++i) {
      const int a = i >= size_t(channels) ? cur[i - channels] : 0, b = prev[i], c = i >= size_t(channels) ? prev[i - channels] : 0;
      int v;
      switch (filter) {
        case 0: v = in[i]; break;
        case 1: v = in[i] + a; break;
        case 2: v = in[i] + b; break;
        case 3: v = in[i] + (a + b) / 2; break;
        case 4: v = in[i] + Paeth(a, b, c); break;
        default: return InvalidArgument(name + ": row " + std::to_string(y) + " has filter type " + std::to_string(filter));
      }
      cur[i] = static_cast<uint8_t>(v);
    }
    for (uint32_t x = 0; x < width; ++x) {
      uint8_t* px = &out.rgb[(size_t{y} * width + x) * 3];
      const uint8_t* s = &cur[size_t{x} * channels];
      if (channels <= 2) {
        px[0] = px[1] = px[2] = s[0];
      } else {
        std::memcpy(px, s, 3);
      }
    }
    std::swap(prev, cur);
  }
  return out;
#endif
}

StatusOr<RgbImage> ReadPng(const std::string& path) {
  ASSIGN_OR_RETURN(std::string bytes, ReadFileToString(path));
  return DecodePng(bytes, path);
}

}  // namespace maskgrpo
