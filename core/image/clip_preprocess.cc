// CPU-side preprocessing for the reward models; see clip_preprocess.h for what is reproduced.
// The tensor steps call the same ATen ops, in the same order and dtype, as torchvision's
// ToTensor / Normalize / F.resize / F.pad do in Python, so that results match to the bit
// rather than to a tolerance.
#include "core/image/clip_preprocess.h"

#include "core/torch_api.h"

#include <cmath>
#include <cstdint>
#include <string>

namespace maskgrpo {
namespace {

// Python's round() on a double: half to even (the default floating-point rounding mode).
int RoundHalfEven(double v) { return static_cast<int>(std::nearbyint(v)); }

Status ValidateBatch(const std::vector<RgbImage>& images, int size, const char* what) {
  if (images.empty()) return InvalidArgument(std::string(what) + ": no images");
  if (size < 1) return InvalidArgument(std::string(what) + ": size must be >= 1, got " + std::to_string(size));
  for (size_t i = 0; i < images.size(); ++i) RETURN_IF_ERROR(ValidateImage(images[i], i));
  return Status::Ok();
}

// torchvision ToTensor: [H, W, 3] uint8 -> [3, H, W] float32 in [0, 1].
at::Tensor ToTensor(const RgbImage& im) {
  auto hwc = torch::from_blob(const_cast<uint8_t*>(im.rgb.data()), {im.height, im.width, 3}, torch::kUInt8);
  return hwc.permute({2, 0, 1}).contiguous().to(torch::kFloat).div(255);
}

// torchvision Normalize on [.., 3, H, W]: float32 mean/std broadcast over H and W.
at::Tensor Normalize(const at::Tensor& x, const std::array<float, 3>& mean, const std::array<float, 3>& std) {
  auto m = torch::tensor({mean[0], mean[1], mean[2]}, torch::kFloat).view({3, 1, 1});
  auto s = torch::tensor({std[0], std[1], std[2]}, torch::kFloat).view({3, 1, 1});
  return x.sub(m).div(s);
}

StatusOr<at::TensorOptions> TargetOptions(const DeviceOptions& device) {
  ASSIGN_OR_RETURN(at::Device dev, ParseDevice(device.device));
  ASSIGN_OR_RETURN(at::ScalarType dtype, ParseDtype(device.dtype));
  return at::TensorOptions().device(dev).dtype(dtype);
}

}  // namespace

Status ValidateImage(const RgbImage& image, size_t index) {
  const std::string name = "image " + std::to_string(index);
  if (image.width == 0 && image.height == 0 && image.rgb.empty()) return InvalidArgument(name + " is empty");
  if (image.width <= 0 || image.height <= 0) {
    return InvalidArgument(name + " has a zero or negative size (" + std::to_string(image.width) + "x" +
                           std::to_string(image.height) + ")");
  }
  const size_t want = static_cast<size_t>(image.width) * static_cast<size_t>(image.height) * 3;
  if (image.rgb.size() != want) {
    return InvalidArgument(name + " (" + std::to_string(image.width) + "x" + std::to_string(image.height) + ") needs " +
                           std::to_string(want) + " RGB bytes but has " + std::to_string(image.rgb.size()));
  }
  return Status::Ok();
}

StatusOr<at::Tensor> ClipPreprocess(const std::vector<RgbImage>& images, const ClipPreprocessOptions& options,
                                    const DeviceOptions& device) {
  RETURN_IF_ERROR(ValidateBatch(images, options.size, "ClipPreprocess"));
  ASSIGN_OR_RETURN(at::TensorOptions target, TargetOptions(device));
  const int size = options.size;
  try {
    auto crops = torch::empty({static_cast<int64_t>(images.size()), size, size, 3}, torch::kUInt8);
    for (size_t i = 0; i < images.size(); ++i) {
      const RgbImage& im = images[i];
      const bool portrait = im.width <= im.height;
      const int64_t shortest = portrait ? im.width : im.height;
      const int64_t longest = portrait ? im.height : im.width;
      // int(size * long / short): true division in double, then truncation.
      const int other = static_cast<int>(static_cast<double>(size * longest) / static_cast<double>(shortest));
      const int w = portrait ? size : other;
      const int h = portrait ? other : size;
      const RgbImage resized = PillowResize(im, w, h, ResampleFilter::kBicubic);
      const int top = RoundHalfEven((h - size) / 2.0);
      const int left = RoundHalfEven((w - size) / 2.0);
      auto full = torch::from_blob(const_cast<uint8_t*>(resized.rgb.data()), {h, w, 3}, torch::kUInt8);
      crops[static_cast<int64_t>(i)].copy_(full.slice(0, top, top + size).slice(1, left, left + size));
    }
    // Same ops as ToTensor per image: element-wise, so batching changes nothing.
    auto x = crops.permute({0, 3, 1, 2}).contiguous().to(torch::kFloat).div(255);
    return Normalize(x, options.mean, options.std).to(target);
  } catch (const c10::Error& e) {
    return Internal(std::string("ClipPreprocess failed: ") + e.what_without_backtrace());
  }
}

StatusOr<at::Tensor> HpsTensorPreprocess(const std::vector<RgbImage>& images, const HpsPreprocessOptions& options,
                                         const DeviceOptions& device) {
  RETURN_IF_ERROR(ValidateBatch(images, options.size, "HpsTensorPreprocess"));
  ASSIGN_OR_RETURN(at::TensorOptions target, TargetOptions(device));
  const int size = options.size;
  try {
    std::vector<at::Tensor> out;
    out.reserve(images.size());
    for (size_t i = 0; i < images.size(); ++i) {
      const RgbImage& im = images[i];
      auto x = ToTensor(im);
      const double scale = size / static_cast<double>(std::max(im.width, im.height));
      if (scale == 1.0) {
        // HPSv2 neither resizes nor pads here; only a square image yields a usable tensor.
        if (im.width != im.height) {
          return InvalidArgument("HpsTensorPreprocess: image " + std::to_string(i) + " (" + std::to_string(im.width) +
                                 "x" + std::to_string(im.height) + ") is non-square with longest side " +
                                 std::to_string(size) + "; HPSv2 would not pad it to a square");
        }
      } else {
        const int nh = RoundHalfEven(im.height * scale);
        const int nw = RoundHalfEven(im.width * scale);
        if (nh < 1 || nw < 1) {
          return InvalidArgument("HpsTensorPreprocess: image " + std::to_string(i) + " (" + std::to_string(im.width) +
                                 "x" + std::to_string(im.height) + ") resizes to an empty side");
        }
        auto batch = x.unsqueeze(0);
        batch = options.antialias ? at::_upsample_bicubic2d_aa(batch, {nh, nw}, /*align_corners=*/false)
                                  : at::upsample_bicubic2d(batch, {nh, nw}, /*align_corners=*/false);
        const int pad_h = size - nh;
        const int pad_w = size - nw;
        // torchvision F.pad [left, top, right, bottom] -> constant_pad_nd's (left, right, top, bottom).
        x = at::constant_pad_nd(batch[0], {pad_w / 2, pad_w - pad_w / 2, pad_h / 2, pad_h - pad_h / 2}, 0);
      }
      out.push_back(Normalize(x, options.mean, options.std));
    }
    return torch::stack(out).to(target);
  } catch (const c10::Error& e) {
    return Internal(std::string("HpsTensorPreprocess failed: ") + e.what_without_backtrace());
  }
}

}  // namespace maskgrpo
