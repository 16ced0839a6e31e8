// PNG writing (uncompressed deflate, no zlib dependency) and image grids with captions.
#pragma once

#include <string>
#include <vector>

#include "core/image/rgb_image.h"
#include "core/status.h"

namespace maskgrpo {

std::string EncodePng(const RgbImage& image);
Status WritePng(const std::string& path, const RgbImage& image);

// Lays out images (all of the first one's size) in `columns` columns, scaled by `scale`, each with its caption written
// underneath in a small bitmap font (lower-case letters, digits, basic punctuation; long
// captions wrap over up to three lines).
RgbImage MakeGrid(const std::vector<RgbImage>& images, const std::vector<std::string>& captions, int columns, int scale);

}  // namespace maskgrpo
