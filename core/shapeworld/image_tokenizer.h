// The fixed-codebook image tokenizer: ShapeWorld's stand-in for MAGVIT-v2.
//
// The codebook is built procedurally: one code per background texture patch, and one per
// (texture, shape, colour, quadrant) object patch. Encode = nearest codebook patch (exact
// match fast path, L2 search otherwise); decode = lookup. Exact round trip on renders.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/shapeworld/world.h"

namespace maskgrpo::shapeworld {

class ImageTokenizer {
 public:
  ImageTokenizer();

  int num_codes() const { return static_cast<int>(codebook_.size()); }
  int tokens_per_image() const { return kGrid * kGrid; }

  // Row-major over the patch grid, kGrid * kGrid codes.
  std::vector<int64_t> Encode(const Image& image) const;
  // Codes outside [0, num_codes) are an error reported by returning false.
  bool Decode(const std::vector<int64_t>& codes, Image* image) const;

 private:
  using Patch = std::string;  // kPatch * kPatch * 3 bytes
  std::vector<Patch> codebook_;
  std::unordered_map<Patch, int> index_;
};

}  // namespace maskgrpo::shapeworld
