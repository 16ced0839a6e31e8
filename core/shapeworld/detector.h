// A pixel-only object detector for ShapeWorld images: it knows nothing of tokens or scenes.
// Objects are connected regions of one palette colour off the grey background; the shape
// is the best IoU match against the four shape templates; positions are region centres.
#pragma once

#include <vector>

#include "core/shapeworld/world.h"

namespace maskgrpo::shapeworld {

struct Detection {
  int shape = -1;  // -1: a region that matches no shape well (a fragment)
  int color = 0;
  double center_x = 0, center_y = 0;  // bounding-box centre, pixels
  int x0 = 0, y0 = 0, x1 = 0, y1 = 0;  // inclusive bounding box
  int area = 0;
  double iou = 0;  // match quality of `shape`
};

struct DetectorOptions {
  double min_iou = 0.85;  // below this a region is a fragment, not an object
  int min_area = 30;      // smaller regions are ignored as noise
};

std::vector<Detection> Detect(const Image& image, const DetectorOptions& options = {});

}  // namespace maskgrpo::shapeworld
