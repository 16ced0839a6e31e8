// PNG writing (uncompressed deflate, no zlib dependency) and image grids with captions.
#pragma once

#include <string>
#include <vector>

#include "core/shapeworld/world.h"
#include "core/status.h"

namespace maskgrpo::shapeworld {

std::string EncodePng(const Image& image);
Status WritePng(const std::string& path, const Image& image);

// Lays out images in `columns` columns, scaled by `scale`, each with its caption written
// underneath in a small bitmap font (lower-case letters, digits, basic punctuation; long
// captions wrap over up to three lines).
Image MakeGrid(const std::vector<Image>& images, const std::vector<std::string>& captions, int columns, int scale);

}  // namespace maskgrpo::shapeworld
