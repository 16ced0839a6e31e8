// Writing numpy .npy files (format 1.0), so that run-folder dumps open with numpy alone:
// numpy.load("tokens.npy").
#pragma once

#include <ATen/core/Tensor.h>

#include <string>

#include "core/status.h"

namespace maskgrpo::grpo {

// Supports int64, int32, uint8, bool, float32 and float64 tensors (any device; C order).
StatusOr<std::string> EncodeNpy(const at::Tensor& tensor);
Status WriteNpy(const std::string& path, const at::Tensor& tensor);

// The reverse, for the same dtypes in C order (what EncodeNpy writes; numpy.save's output for
// them too). Anything else, or a size that does not match the header, is an error naming it.
StatusOr<at::Tensor> DecodeNpy(const std::string& bytes);
StatusOr<at::Tensor> ReadNpy(const std::string& path);

}  // namespace maskgrpo::grpo
