// Pillow's convolution resampler (libImaging/Resample.c), written from its documented behaviour:
//  * each axis gets a 1-D filter whose support is stretched by the downscale factor (this is
//    the antialiasing), sampled at pixel centres and normalised to sum 1 per output pixel;
//  * the float weights are then rounded to fixed point with 22 fractional bits
//    (32 - 8 - 2: room for 8-bit values and filter overshoot in an int32 accumulator);
//  * the horizontal pass runs first, into an 8-bit intermediate image, then the vertical pass;
//    a pass is skipped when its axis keeps its size;
//  * each output value starts at 0.5 (1 << 21), accumulates value * weight in integers, and is
//    clipped to [0, 255] after an arithmetic shift right by 22 (so it floors, not rounds, the
//    already half-biased sum).
// Every floating-point expression below keeps Pillow's evaluation order: the weights are
// rounded to integers, so a different order could flip a weight by one unit and a pixel by one.
#include "core/image/pillow_resize.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

namespace maskgrpo {
namespace {

constexpr int kPrecisionBits = 32 - 8 - 2;

double BicubicFilter(double x) {
  constexpr double a = -0.5;  // Pillow's choice; torch's non-antialiased bicubic uses -0.75
  if (x < 0.0) x = -x;
  if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
  if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
  return 0.0;
}

double BilinearFilter(double x) {
  if (x < 0.0) x = -x;
  if (x < 1.0) return 1.0 - x;
  return 0.0;
}

// For every output index along one axis: the first input index, the number of taps, and
// `ksize` fixed-point weights (unused tail entries are zero).
struct AxisCoefficients {
  int ksize = 0;
  std::vector<int> first;
  std::vector<int> count;
  std::vector<int32_t> weights;  // out_size * ksize
};

AxisCoefficients Precompute(int in_size, int out_size, ResampleFilter filter) {
  double (*fn)(double) = filter == ResampleFilter::kBicubic ? BicubicFilter : BilinearFilter;
  const double filter_support = filter == ResampleFilter::kBicubic ? 2.0 : 1.0;
  // Pillow's box defaults to the whole image: in0 = 0, in1 = in_size.
  const double in0 = 0.0;
  const double in1 = in_size;
  const double scale = (in1 - in0) / out_size;
  // Upscaling keeps the filter's own width; downscaling widens it to cover the source pixels.
  const double filterscale = scale < 1.0 ? 1.0 : scale;
  const double support = filter_support * filterscale;

  AxisCoefficients c;
  c.ksize = static_cast<int>(std::ceil(support)) * 2 + 1;
  c.first.resize(out_size);
  c.count.resize(out_size);
  c.weights.assign(static_cast<size_t>(out_size) * c.ksize, 0);
  std::vector<double> k(c.ksize);
  for (int xx = 0; xx < out_size; ++xx) {
    const double center = in0 + (xx + 0.5) * scale;
    const double ss = 1.0 / filterscale;
    // Truncating casts after +0.5, as Pillow rounds the window bounds.
    int xmin = static_cast<int>(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    int xmax = static_cast<int>(center + support + 0.5);
    if (xmax > in_size) xmax = in_size;
    xmax -= xmin;
    double ww = 0.0;
    for (int x = 0; x < xmax; ++x) {
      const double w = fn((x + xmin - center + 0.5) * ss);
      k[x] = w;
      ww += w;
    }
    int32_t* out = &c.weights[static_cast<size_t>(xx) * c.ksize];
    for (int x = 0; x < xmax; ++x) {
      if (ww != 0.0) k[x] /= ww;
      // Round half away from zero into 22-bit fixed point.
      const double scaled = k[x] * (1 << kPrecisionBits);
      out[x] = scaled < 0 ? static_cast<int32_t>(-0.5 + scaled) : static_cast<int32_t>(0.5 + scaled);
    }
    c.first[xx] = xmin;
    c.count[xx] = xmax;
  }
  return c;
}

uint8_t Clip8(int64_t acc) {
  if (acc >= (int64_t{1} << kPrecisionBits << 8)) return 255;
  if (acc <= 0) return 0;
  return static_cast<uint8_t>(acc >> kPrecisionBits);
}

// Resamples rows [row0, row0 + out.height) of `in` horizontally into `out`.
void HorizontalPass(const RgbImage& in, int row0, const AxisCoefficients& c, RgbImage& out) {
  for (int y = 0; y < out.height; ++y) {
    const uint8_t* src = &in.rgb[static_cast<size_t>(y + row0) * in.width * 3];
    uint8_t* dst = &out.rgb[static_cast<size_t>(y) * out.width * 3];
    for (int xx = 0; xx < out.width; ++xx) {
      const int32_t* k = &c.weights[static_cast<size_t>(xx) * c.ksize];
      const uint8_t* p = src + static_cast<size_t>(c.first[xx]) * 3;
      int64_t s0 = 1 << (kPrecisionBits - 1), s1 = s0, s2 = s0;
      for (int x = 0; x < c.count[xx]; ++x) {
        s0 += p[x * 3 + 0] * int64_t{k[x]};
        s1 += p[x * 3 + 1] * int64_t{k[x]};
        s2 += p[x * 3 + 2] * int64_t{k[x]};
      }
      dst[xx * 3 + 0] = Clip8(s0);
      dst[xx * 3 + 1] = Clip8(s1);
      dst[xx * 3 + 2] = Clip8(s2);
    }
  }
}

// Vertical pass; `row0` is subtracted from every window start (the horizontal pass only
// produced the rows the vertical windows touch).
void VerticalPass(const RgbImage& in, int row0, const AxisCoefficients& c, RgbImage& out) {
  const size_t stride = static_cast<size_t>(in.width) * 3;
  for (int yy = 0; yy < out.height; ++yy) {
    const int32_t* k = &c.weights[static_cast<size_t>(yy) * c.ksize];
    const uint8_t* src = &in.rgb[static_cast<size_t>(c.first[yy] - row0) * stride];
    uint8_t* dst = &out.rgb[static_cast<size_t>(yy) * stride];
    for (size_t i = 0; i < stride; ++i) {
      int64_t s = 1 << (kPrecisionBits - 1);
      for (int y = 0; y < c.count[yy]; ++y) s += src[y * stride + i] * int64_t{k[y]};
      dst[i] = Clip8(s);
    }
  }
}

RgbImage Blank(int w, int h) {
  RgbImage im;
  im.width = w;
  im.height = h;
  im.rgb.assign(static_cast<size_t>(w) * h * 3, 0);
  return im;
}

}  // namespace

RgbImage PillowResize(const RgbImage& in, int out_w, int out_h, ResampleFilter filter) {
  if (!in.Valid() || out_w < 1 || out_h < 1) return RgbImage{};
  const bool need_horizontal = out_w != in.width;
  const bool need_vertical = out_h != in.height;
  if (!need_horizontal && !need_vertical) return in;

  const AxisCoefficients vert = Precompute(in.height, out_h, filter);
  RgbImage cur;
  const RgbImage* src = &in;
  int row0 = 0;
  if (need_horizontal) {
    const AxisCoefficients horiz = Precompute(in.width, out_w, filter);
    // Only the source rows some vertical window reads are resampled horizontally.
    row0 = vert.first.front();
    const int row_end = vert.first.back() + vert.count.back();
    cur = Blank(out_w, need_vertical ? row_end - row0 : in.height);
    if (!need_vertical) row0 = 0;
    HorizontalPass(in, row0, horiz, cur);
    src = &cur;
  }
  if (!need_vertical) return cur;
  RgbImage out = Blank(src->width, out_h);
  VerticalPass(*src, row0, vert, out);
  return out;
}

}  // namespace maskgrpo
