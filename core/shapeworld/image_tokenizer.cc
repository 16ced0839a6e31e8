#include "core/shapeworld/image_tokenizer.h"

#include <limits>

namespace maskgrpo::shapeworld {
namespace {

std::string ExtractPatch(const Image& img, int px, int py) {
  std::string patch(kPatch * kPatch * 3, '\0');
  for (int y = 0; y < kPatch; ++y) {
    const uint8_t* row = img.Pixel(px * kPatch, py * kPatch + y);
    std::copy(row, row + kPatch * 3, reinterpret_cast<uint8_t*>(&patch[y * kPatch * 3]));
  }
  return patch;
}

}  // namespace

ImageTokenizer::ImageTokenizer() {
  auto add = [this](const std::string& patch) {
    if (index_.emplace(patch, static_cast<int>(codebook_.size())).second) codebook_.push_back(patch);
  };
  // Plain background patches, then every object quadrant over every background. Textures
  // are periodic in kPatch, so a patch's background does not depend on where it sits.
  for (int tex = 0; tex < kNumTextures; ++tex) {
    Scene scene{tex, {}};
    add(ExtractPatch(Render(scene), 0, 0));
  }
  for (int tex = 0; tex < kNumTextures; ++tex) {
    for (int shape = 0; shape < kNumShapes; ++shape) {
      for (int color = 0; color < kNumColors; ++color) {
        Scene scene{tex, {Object{shape, color, 0, 0}}};
        Image img = Render(scene);
        for (int q = 0; q < 4; ++q) add(ExtractPatch(img, q % 2, q / 2));
      }
    }
  }
}

std::vector<int64_t> ImageTokenizer::Encode(const Image& image) const {
  std::vector<int64_t> codes;
  codes.reserve(kGrid * kGrid);
  for (int py = 0; py < kGrid; ++py) {
    for (int px = 0; px < kGrid; ++px) {
      std::string patch = ExtractPatch(image, px, py);
      auto it = index_.find(patch);
      if (it != index_.end()) { codes.push_back(it->second); continue; }
      // Vector quantisation: nearest codebook patch in L2.
      int64_t best = 0;
      int64_t best_d = std::numeric_limits<int64_t>::max();
      for (size_t c = 0; c < codebook_.size(); ++c) {
        int64_t d = 0;
        for (size_t i = 0; i < patch.size(); ++i) {
          int diff = static_cast<uint8_t>(patch[i]) - static_cast<uint8_t>(codebook_[c][i]);
          d += diff * diff;
        }
        if (d < best_d) { best_d = d; best = static_cast<int64_t>(c); }
      }
      codes.push_back(best);
    }
  }
  return codes;
}

bool ImageTokenizer::Decode(const std::vector<int64_t>& codes, Image* image) const {
  if (codes.size() != static_cast<size_t>(kGrid * kGrid)) return false;
  image->width = image->height = kImageSize;
  image->rgb.assign(static_cast<size_t>(kImageSize) * kImageSize * 3, 0);
  for (int i = 0; i < kGrid * kGrid; ++i) {
    if (codes[i] < 0 || codes[i] >= num_codes()) return false;
    const std::string& patch = codebook_[codes[i]];
    const int px = i % kGrid, py = i / kGrid;
    for (int y = 0; y < kPatch; ++y) {
      std::copy(&patch[y * kPatch * 3], &patch[y * kPatch * 3] + kPatch * 3,
                reinterpret_cast<char*>(&image->rgb[(static_cast<size_t>(py * kPatch + y) * kImageSize + px * kPatch) * 3]));
    }
  }
  return true;
}

}  // namespace maskgrpo::shapeworld
