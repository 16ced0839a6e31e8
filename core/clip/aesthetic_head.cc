// The LAION improved aesthetic predictor head (showo-stack.md 4.5).
#include "core/torch_api.h"

#include "core/checkpoint/checkpoint_files.h"
#include "core/clip/clip_model.h"
#include "core/tensor_text.h"

namespace maskgrpo::clip {
namespace {

// simple_inference.py's nn.Sequential indices: 1, 3, 5 are Dropouts (no parameters), and
// the ReLUs that would sit between are commented out upstream.
constexpr int kIndex[] = {0, 2, 4, 6, 7};
constexpr int64_t kDims[] = {AestheticHead::kInputDim, 1024, 128, 64, 16, 1};


}  // namespace

struct AestheticHead::Impl {
  std::vector<std::pair<at::Tensor, at::Tensor>> layers;  // (weight [out, in], bias [out])
  at::Device device = at::kCPU;
  at::ScalarType dtype = at::kFloat;
};

AestheticHead::AestheticHead(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
AestheticHead::~AestheticHead() = default;

std::vector<std::pair<std::string, std::vector<int64_t>>> AestheticHead::ParameterShapes() {
  std::vector<std::pair<std::string, std::vector<int64_t>>> out;
  for (int i = 0; i < 5; ++i) {
    const std::string p = "layers." + std::to_string(kIndex[i]);
    out.push_back({p + ".weight", {kDims[i + 1], kDims[i]}});
    out.push_back({p + ".bias", {kDims[i + 1]}});
  }
  return out;
}

StatusOr<std::unique_ptr<AestheticHead>> AestheticHead::Create(const TensorFile& checkpoint, const DeviceOptions& options) {
  ASSIGN_OR_RETURN(at::Device device, ParseDevice(options.device));
  // The head is 3.7 MB and runs once per image: float32 (or float64 for tests) is enough.
  ASSIGN_OR_RETURN(at::ScalarType dtype, ParseDtype(options.dtype));
  if (dtype == at::kBFloat16) dtype = at::kFloat;
  if (Status s = CheckStateNames(ParameterShapes(), checkpoint); !s.ok()) {
    return InvalidArgument("aesthetic head checkpoint: " + s.message());
  }
  try {
    torch::NoGradGuard no_grad;
    for (const auto& [name, shape] : ParameterShapes()) {
      const at::Tensor& t = checkpoint.tensors.at(name);
      if (!at::isFloatingType(t.scalar_type())) {
        return InvalidArgument("aesthetic head checkpoint: tensor '" + name + "' is not floating point");
      }
      if (!at::isfinite(t).all().item<bool>()) {
        return InvalidArgument("aesthetic head checkpoint: tensor '" + name + "' has NaN or Inf values");
      }
    }
    auto impl = std::make_unique<Impl>();
    impl->device = device;
    impl->dtype = dtype;
    for (int i = 0; i < 5; ++i) {
      const std::string p = "layers." + std::to_string(kIndex[i]);
      auto copy = [&](const std::string& n) {
        return checkpoint.tensors.at(n).to(device, dtype, /*non_blocking=*/false, /*copy=*/true).contiguous();
      };
      impl->layers.emplace_back(copy(p + ".weight"), copy(p + ".bias"));
    }
    return std::unique_ptr<AestheticHead>(new AestheticHead(std::move(impl)));
  } catch (const c10::Error& e) {
    return Internal(std::string("building the aesthetic head failed: ") + e.what_without_backtrace());
  }
}

StatusOr<at::Tensor> AestheticHead::Forward(const at::Tensor& x) const {
  if (!x.defined() || x.dim() != 2 || x.size(1) != kInputDim || !at::isFloatingType(x.scalar_type())) {
    return InvalidArgument("aesthetic head input must be floating [B, 768], got " + DescribeTensor(x));
  }
  try {
    torch::NoGradGuard no_grad;
    auto h = x.to(impl_->device, impl_->dtype);
    for (const auto& [w, b] : impl_->layers) h = at::linear(h, w, b);
    return h.squeeze(-1);
  } catch (const c10::Error& e) {
    return Internal(std::string("aesthetic head failed: ") + e.what_without_backtrace());
  }
}

StatusOr<at::Tensor> AestheticHead::Score(const at::Tensor& image_embeddings) const {
  if (!image_embeddings.defined() || image_embeddings.dim() != 2 || !at::isFloatingType(image_embeddings.scalar_type())) {
    return InvalidArgument("aesthetic head input must be floating [B, 768], got " + DescribeTensor(image_embeddings));
  }
  try {
    torch::NoGradGuard no_grad;
    auto x = image_embeddings.to(impl_->device, impl_->dtype);
    auto norm = x.norm(2, -1, /*keepdim=*/true);
    norm = at::where(norm == 0, at::ones_like(norm), norm);  // normalized(): l2[l2 == 0] = 1
    return Forward(x / norm);
  } catch (const c10::Error& e) {
    return Internal(std::string("aesthetic head failed: ") + e.what_without_backtrace());
  }
}

}  // namespace maskgrpo::clip
