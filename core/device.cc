#include "core/device.h"

#include "core/torch_api.h"

namespace maskgrpo {

StatusOr<at::Device> ParseDevice(const std::string& device) {
  try {
    at::Device d(device);
    if (!d.is_cpu() && !d.is_cuda()) return InvalidArgument("device '" + device + "' is not supported (use cpu or cuda[:N])");
    if (d.is_cuda() && !torch::cuda::is_available()) {
      return InvalidArgument("device '" + device + "' requested but CUDA is not available in this build/machine");
    }
    if (d.is_cuda() && d.has_index() && d.index() >= static_cast<int64_t>(torch::cuda::device_count())) {
      return InvalidArgument("device '" + device + "' does not exist (" + std::to_string(torch::cuda::device_count()) +
                             " CUDA devices)");
    }
    return d;
  } catch (const c10::Error&) {
    return InvalidArgument("invalid device string '" + device + "'");
  }
}

StatusOr<at::ScalarType> ParseDtype(const std::string& dtype) {
  if (dtype == "float32" || dtype == "fp32") return at::kFloat;
  if (dtype == "bfloat16" || dtype == "bf16") return at::kBFloat16;
  // float64 exists for finite-difference gradient checks in tests, not for training.
  if (dtype == "float64") return at::kDouble;
  return InvalidArgument("dtype must be float32, bfloat16 or float64, got '" + dtype + "'");
}

}  // namespace maskgrpo
