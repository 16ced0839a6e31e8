// The image preprocessing the reward models were trained and are scored with, so that C++
// rewards see the tensors the Python models see (spec: docs showo-stack.md §4.4, §4.5, §6.10).
//
//  * ClipPreprocess: open_clip's / HF CLIPImageProcessor's / ImageReward's / the LAION
//    aesthetic predictor's transform on PIL images: Pillow bicubic resize of the shortest side,
//    torchvision-style center crop, ToTensor, Normalize.
//  * HpsTensorPreprocess: HPSv2's `light_augmentation=True` eval transform, which converts to a
//    tensor FIRST and then resizes the tensor (torch interpolation, not Pillow).
//
// Both compute on the CPU in float32, exactly as the Python transforms do before the batch is
// moved to the model's device, and only then move and cast to DeviceOptions' device/dtype: a GPU
// or bf16 resize would not reproduce the reference values.
#pragma once

#include <ATen/core/Tensor.h>

#include <array>
#include <vector>

#include "core/device.h"
#include "core/image/pillow_resize.h"
#include "core/image/rgb_image.h"
#include "core/status.h"

namespace maskgrpo {

// OpenAI CLIP's mean/std, used by every reward model in the spec.
struct ClipPreprocessOptions {
  int size = 224;
  std::array<float, 3> mean{0.48145466f, 0.4578275f, 0.40821073f};
  std::array<float, 3> std{0.26862954f, 0.26130258f, 0.27577711f};
};

// InvalidArgument naming the image and the problem (empty, wrong byte count, zero size).
Status ValidateImage(const RgbImage& image, size_t index = 0);

// [B, 3, size, size]. Per image, in the order of open_clip's transform and HF's slow processor:
//  1. resize with Pillow bicubic so that the shortest side is `size` and the other side is
//     int(size * long / short) (torchvision Resize(int) / HF get_resize_output_image_size);
//     no resize when the shortest side already is `size`;
//  2. center crop size x size at top = int(round((h - size) / 2.0)), left likewise (torchvision
//     CenterCrop; Python's round is half-to-even). HF's processor uses (h - size) // 2 instead,
//     which differs by one pixel when h - size is odd and round goes up; square inputs agree;
//  3. uint8 -> float32 / 255, then (x - mean) / std in float32 (torchvision ToTensor/Normalize;
//     HF multiplies by 1/255 in numpy instead, a difference of float rounding only).
StatusOr<at::Tensor> ClipPreprocess(const std::vector<RgbImage>& images, const ClipPreprocessOptions& options,
                                    const DeviceOptions& device);

struct HpsPreprocessOptions {
  int size = 224;
  std::array<float, 3> mean{0.48145466f, 0.4578275f, 0.40821073f};
  std::array<float, 3> std{0.26862954f, 0.26130258f, 0.27577711f};
  // HPSv2 calls torchvision F.resize(tensor, size, BICUBIC) without `antialias`, and pins no
  // torchvision version (requirements.txt / setup.py say just "torchvision"). torchvision >= 0.17
  // defaults antialias to True for tensors (what a fresh install scores with); 0.15/0.16, current
  // when HPSv2 was released, resolved the default to False for tensors. True is the default here;
  // set false to match an older environment.
  bool antialias = true;
};

// [B, 3, size, size]. HPSv2's ResizeMaxSize path, per image:
//  1. ToTensor: uint8 -> float32 [3, H, W] / 255;
//  2. if size / max(H, W) != 1: resize the tensor to (round(H * s), round(W * s)) (Python round,
//     half-to-even) with torch bicubic, align_corners=False, as torch's _upsample_bicubic2d_aa
//     (antialias, Pillow's a = -0.5 filter in float, no 8-bit rounding) or upsample_bicubic2d
//     (a = -0.75, no antialias); no clamping (torchvision clamps uint8 tensors only). Then pad
//     with 0 (before normalisation) left/top = pad // 2, right/bottom = the rest;
//  3. (x - mean) / std.
// Not reproduced: HPSv2 skips both resize and pad when the longest side already equals `size`,
// which leaves a non-square tensor for a non-square input (its ViT would then fail); such input
// is rejected here with InvalidArgument. RGBA inputs (HPSv2 keeps alpha as a 4th channel) do not
// exist for RgbImage.
StatusOr<at::Tensor> HpsTensorPreprocess(const std::vector<RgbImage>& images, const HpsPreprocessOptions& options,
                                         const DeviceOptions& device);

}  // namespace maskgrpo
