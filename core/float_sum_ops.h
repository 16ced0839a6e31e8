// Matrix products and convolutions whose sums run in float32 when their inputs are bfloat16
// on the CPU. LibTorch 1.13's CPU kernels for bfloat16 matmul/bmm and conv2d sum in low
// precision on CPUs without native bfloat16 (measured on AMD Zen 3: 5 % relative error for a
// product over 2048 terms and 2.3 % for a 3x3 convolution over 32 channels, where rounding the
// inputs and the result alone costs 0.2-0.3 %). at::linear does not have the problem, and
// CUDA's bfloat16 kernels sum in float32, so everywhere else these are the plain ops.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>

namespace maskgrpo {

// at::matmul(a, b); bfloat16 on the CPU: computed in float32, the result rounded to bfloat16.
at::Tensor MatmulFloatSum(const at::Tensor& a, const at::Tensor& b);

// at::conv2d(x, w, bias, stride, padding), the same way. `bias` may be undefined.
at::Tensor Conv2dFloatSum(const at::Tensor& x, const at::Tensor& w, const at::Tensor& bias, int64_t stride,
                          int64_t padding);

}  // namespace maskgrpo
