// How error messages name a tensor's shape, the same way in every loader.
#pragma once

#include <ATen/core/Tensor.h>

#include <string>

namespace maskgrpo {

// "[3, 4]".
std::string ShapeText(at::IntArrayRef sizes);
// The tensor's shape, or "(undefined)" for a tensor that holds nothing.
std::string DescribeTensor(const at::Tensor& t);

}  // namespace maskgrpo
