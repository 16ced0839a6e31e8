// Shared histogram bucket boundaries, so that every component's latency series line up.
#pragma once

#include <prometheus/histogram.h>

namespace maskgrpo::rpc {

// 1 ms .. ~65 s, doubling.
inline prometheus::Histogram::BucketBoundaries LatencyBuckets() {
  prometheus::Histogram::BucketBoundaries b;
  for (double v = 0.001; v < 70; v *= 2) b.push_back(v);
  return b;
}

}  // namespace maskgrpo::rpc
