// Where a model runs: the device and dtype every module takes from config, parsed once with
// errors that name the bad value (a CUDA device on a machine or build without CUDA included).
#pragma once

#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

#include <string>

#include "core/status.h"

namespace maskgrpo {

struct DeviceOptions {
  std::string device = "cpu";    // "cpu", "cuda", "cuda:1", ...
  std::string dtype = "float32";  // "float32", "bfloat16" (or "float64" for gradient checks)
};

StatusOr<at::Device> ParseDevice(const std::string& device);
StatusOr<at::ScalarType> ParseDtype(const std::string& dtype);

}  // namespace maskgrpo
