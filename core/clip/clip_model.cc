// ClipModel: strict loading into the shared representation (clip_layers.h) and the forward
// passes of open_clip's VisionTransformer / TextTransformer (showo-stack.md 4.1).
#include "core/clip/clip_model.h"

#include "core/float_sum_ops.h"
#include "core/torch_api.h"

#include <cmath>
#include <limits>

#include "core/checkpoint/checkpoint_files.h"
#include "core/clip/clip_layers.h"
#include "core/tensor_text.h"

namespace maskgrpo::clip {

using internal::Block;
using internal::Kind;
using internal::Linear;
using internal::Norm;
using internal::Weights;

struct ClipModel::Impl {
  Weights w;
  at::Device device = at::kCPU;
  at::ScalarType dtype = at::kFloat;
  at::ScalarType norm_dtype = at::kFloat;  // LayerNorm and attention scores; float64 for a float64 model
  bool quick_gelu = false;
  double eps = 1e-5;
  int64_t vision_heads = 0, text_heads = 0;
  int64_t num_parameters = 0;
};

namespace {


// float16 is accepted here (not in ParseDtype) because CLIP rewards run under fp16 autocast
// upstream; on the CPU LibTorch 1.13 lacks half matmuls, so it is for CUDA.
StatusOr<at::ScalarType> ParseClipDtype(const std::string& dtype) {
  if (dtype == "float16" || dtype == "fp16" || dtype == "half") return at::kHalf;
  return ParseDtype(dtype);
}

at::Tensor ApplyNorm(const ClipModel::Impl& m, const at::Tensor& x, const Norm& n) {
  return at::layer_norm(x.to(m.norm_dtype), {x.size(-1)}, n.w, n.b, m.eps).to(x.scalar_type());
}

at::Tensor ApplyLinear(const at::Tensor& x, const Linear& l) { return at::linear(x, l.w, l.b); }

at::Tensor Activation(const ClipModel::Impl& m, const at::Tensor& x) {
  return m.quick_gelu ? x * at::sigmoid(1.702 * x) : at::gelu(x);  // at::gelu is the exact erf form
}

// Multi-head self-attention on [B, N, W] with nn.MultiheadAttention's in_proj row order
// (q; k; v); scores and softmax in float32 so fp16/bf16 models keep their attention exact.
at::Tensor Attention(const ClipModel::Impl& m, const at::Tensor& x, const Block& b, int64_t heads,
                     const at::Tensor& mask) {
  const int64_t B = x.size(0), N = x.size(1), W = x.size(2), D = W / heads;
  auto qkv = ApplyLinear(x, b.qkv).view({B, N, 3, heads, D}).permute({2, 0, 3, 1, 4});  // [3, B, H, N, D]
  auto q = qkv[0].to(m.norm_dtype), k = qkv[1].to(m.norm_dtype), v = qkv[2];
  auto scores = at::matmul(q, k.transpose(-2, -1)) * (1.0 / std::sqrt(static_cast<double>(D)));  // [B, H, N, N]
  if (mask.defined()) scores = scores + mask;
  auto probs = at::softmax(scores, -1).to(v.scalar_type());
  auto out = MatmulFloatSum(probs, v).transpose(1, 2).reshape({B, N, W});
  return ApplyLinear(out, b.out);
}

at::Tensor RunBlocks(const ClipModel::Impl& m, at::Tensor x, const std::vector<Block>& blocks, int64_t heads,
                     const at::Tensor& mask) {
  for (const auto& b : blocks) {
    x = x + Attention(m, ApplyNorm(m, x, b.ln_1), b, heads, mask);
    x = x + ApplyLinear(Activation(m, ApplyLinear(ApplyNorm(m, x, b.ln_2), b.fc)), b.proj);
  }
  return x;
}

at::Tensor OutputDtype(const ClipModel::Impl& m, const at::Tensor& x) { return x.to(m.norm_dtype); }

std::string JoinProblems(const std::vector<std::string>& problems, ClipLayout layout) {
  std::string out = std::string("CLIP checkpoint (") + ClipLayoutName(layout) + " layout) has " +
                    std::to_string(problems.size()) + " problem(s): ";
  for (size_t i = 0; i < problems.size(); ++i) out += (i ? "; " : "") + problems[i];
  return out;
}

}  // namespace

ClipModel::ClipModel(ClipConfig config, ClipLayout layout, double logit_scale, std::unique_ptr<Impl> impl)
    : config_(std::move(config)), layout_(layout), logit_scale_(logit_scale), impl_(std::move(impl)) {}
ClipModel::~ClipModel() = default;

int64_t ClipModel::NumParameters() const { return impl_->num_parameters; }
at::Device ClipModel::device() const { return impl_->device; }
at::ScalarType ClipModel::dtype() const { return impl_->dtype; }

StatusOr<std::unique_ptr<ClipModel>> ClipModel::Create(const TensorFile& checkpoint, const ClipConfig& config,
                                                       const DeviceOptions& options) {
  RETURN_IF_ERROR(config.Validate());
  ASSIGN_OR_RETURN(at::Device device, ParseDevice(options.device));
  ASSIGN_OR_RETURN(at::ScalarType dtype, ParseClipDtype(options.dtype));
  ASSIGN_OR_RETURN(ClipLayout layout, DetectClipLayout(checkpoint));
  try {
    torch::NoGradGuard no_grad;
    std::vector<std::string> problems;
    ClipConfig resolved = internal::ResolveConfig(config, checkpoint, layout, problems);
    // The resolved sizes may still break an invariant (heads dividing a width read from the file).
    const Status valid = resolved.Validate();
    if (!valid.ok()) problems.push_back(valid.message());
    // Sizes that disagree with the config still let the tensors be checked against the
    // config's sizes, so that one error lists every problem.
    if (resolved.Complete() && valid.ok()) {
      TensorFile state;  // the checkpoint minus the buffers that carry nothing (no tensor copies)
      for (const auto& [name, t] : checkpoint.tensors) {
        if (!internal::IsIgnoredBuffer(name)) state.tensors.emplace(name, t);
      }
      ASSIGN_OR_RETURN(auto expected, ClipParameterShapes(resolved, layout));
      if (Status s = CheckStateNames(expected, state, /*max_listed=*/20); !s.ok()) problems.push_back(s.message());
      for (const auto& [name, shape] : expected) {
        auto it = state.tensors.find(name);
        if (it == state.tensors.end() || it->second.sizes().vec() != shape) continue;
        if (!at::isFloatingType(it->second.scalar_type())) {
          problems.push_back("tensor '" + name + "' has non-floating dtype " + std::string(c10::toString(it->second.scalar_type())));
        } else if (!at::isfinite(it->second).all().item<bool>()) {
          problems.push_back("tensor '" + name + "' has NaN or Inf values");
        }
      }
    }
    if (!problems.empty()) return InvalidArgument(JoinProblems(problems, layout));

    auto impl = std::make_unique<Impl>();
    impl->device = device;
    impl->dtype = dtype;
    impl->norm_dtype = dtype == at::kDouble ? at::kDouble : at::kFloat;
    impl->quick_gelu = resolved.activation == "quick_gelu";
    impl->eps = resolved.layer_norm_eps;
    impl->vision_heads = resolved.vision_heads;
    impl->text_heads = resolved.text_heads;
    // Always a copy: the model owns its weights whatever the caller does with the map.
    impl->w = internal::BuildWeights(resolved, layout, [&](const std::string& name, const std::vector<int64_t>&, Kind kind) {
      const at::Tensor& t = checkpoint.tensors.at(name);
      impl->num_parameters += t.numel();
      return t.to(device, kind == Kind::kNorm ? impl->norm_dtype : dtype, /*non_blocking=*/false, /*copy=*/true)
          .contiguous();
    });
    const double logit_scale = checkpoint.tensors.at("logit_scale").to(at::kDouble).item<double>();
    return std::unique_ptr<ClipModel>(new ClipModel(std::move(resolved), layout, logit_scale, std::move(impl)));
  } catch (const c10::Error& e) {
    return Internal(std::string("building the CLIP model failed: ") + e.what_without_backtrace());
  } catch (const std::exception& e) {
    return Internal(std::string("building the CLIP model failed: ") + e.what());
  }
}

StatusOr<at::Tensor> ClipModel::EncodeImage(const at::Tensor& pixels) const {
  const int64_t size = config_.vision_image_size;
  if (!pixels.defined() || pixels.dim() != 4 || pixels.size(0) == 0 || pixels.size(1) != 3 || pixels.size(2) != size ||
      pixels.size(3) != size) {
    return InvalidArgument("CLIP pixels must be [B > 0, 3, " + std::to_string(size) + ", " + std::to_string(size) +
                           "], got " + DescribeTensor(pixels));
  }
  if (!at::isFloatingType(pixels.scalar_type())) return InvalidArgument("CLIP pixels must be a floating tensor");
  try {
    torch::NoGradGuard no_grad;
    const Impl& m = *impl_;
    const auto& v = m.w.vision;
    auto x = at::conv2d(pixels.to(m.device, m.dtype), v.conv1, {}, config_.vision_patch_size);  // [B, W, g, g]
    x = x.flatten(2).transpose(1, 2);                                                            // [B, g*g, W]
    const int64_t B = x.size(0), W = x.size(2);
    x = at::cat({v.class_embedding.view({1, 1, W}).expand({B, 1, W}), x}, 1) + v.positional_embedding;
    x = RunBlocks(m, ApplyNorm(m, x, v.ln_pre), v.blocks, m.vision_heads, at::Tensor());
    auto pooled = ApplyNorm(m, x.select(1, 0), v.ln_post);  // the class token ('tok' pooling)
    return OutputDtype(m, MatmulFloatSum(pooled, v.proj));
  } catch (const c10::Error& e) {
    return Internal(std::string("CLIP EncodeImage failed: ") + e.what_without_backtrace());
  }
}

StatusOr<at::Tensor> ClipModel::EncodeText(const at::Tensor& tokens) const {
  const int64_t ctx = config_.text_context_length;
  if (!tokens.defined() || tokens.dim() != 2 || tokens.size(0) == 0 || tokens.size(1) == 0 || tokens.size(1) > ctx) {
    return InvalidArgument("CLIP tokens must be [B > 0, 1.." + std::to_string(ctx) + "], got " + DescribeTensor(tokens));
  }
  if (!at::isIntegralType(tokens.scalar_type(), /*includeBool=*/false)) {
    return InvalidArgument("CLIP tokens must be an integer tensor, got " + std::string(c10::toString(tokens.scalar_type())));
  }
  try {
    torch::NoGradGuard no_grad;
    const Impl& m = *impl_;
    const auto& t = m.w.text;
    auto ids = tokens.to(m.device, at::kLong);
    const int64_t lo = ids.min().item<int64_t>(), hi = ids.max().item<int64_t>();
    if (lo < 0 || hi >= config_.text_vocab_size) {
      return InvalidArgument("CLIP token ids must lie in [0, " + std::to_string(config_.text_vocab_size) + "), got [" +
                             std::to_string(lo) + ", " + std::to_string(hi) + "]");
    }
    const int64_t B = ids.size(0), L = ids.size(1);
    auto x = at::embedding(t.token_embedding, ids) + t.positional_embedding.narrow(0, 0, L);
    // Causal additive mask (open_clip build_attention_mask: -inf above the diagonal).
    auto mask = at::full({L, L}, -std::numeric_limits<double>::infinity(), at::TensorOptions(m.device).dtype(m.norm_dtype))
                    .triu(1);
    x = ApplyNorm(m, RunBlocks(m, x, t.blocks, m.text_heads, mask), t.ln_final);
    // argmax returns the first maximum: the EOT (the largest id) in open_clip's and HF's
    // standard tokenisation, whatever the padding.
    auto eot = ids.argmax(-1);
    auto pooled = x.index({at::arange(B, ids.options()), eot});
    return OutputDtype(m, MatmulFloatSum(pooled, t.projection));
  } catch (const c10::Error& e) {
    return Internal(std::string("CLIP EncodeText failed: ") + e.what_without_backtrace());
  }
}

StatusOr<at::Tensor> ClipModel::Logits(const at::Tensor& pixels, const at::Tensor& tokens) const {
  ASSIGN_OR_RETURN(at::Tensor img, EncodeImage(pixels));
  ASSIGN_OR_RETURN(at::Tensor txt, EncodeText(tokens));
  try {
    torch::NoGradGuard no_grad;
    auto i_n = img / img.norm(2, -1, /*keepdim=*/true);
    auto t_n = txt / txt.norm(2, -1, /*keepdim=*/true);
    return std::exp(logit_scale_) * at::matmul(i_n, t_n.t());
  } catch (const c10::Error& e) {
    return Internal(std::string("CLIP Logits failed: ") + e.what_without_backtrace());
  }
}

StatusOr<at::Tensor> ClipModel::Similarity(const at::Tensor& pixels, const at::Tensor& tokens) const {
  if (pixels.defined() && tokens.defined() && pixels.dim() >= 1 && tokens.dim() >= 1 && pixels.size(0) != tokens.size(0)) {
    return InvalidArgument("CLIP Similarity pairs image i with text i: got " + std::to_string(pixels.size(0)) +
                           " images and " + std::to_string(tokens.size(0)) + " texts");
  }
  ASSIGN_OR_RETURN(at::Tensor img, EncodeImage(pixels));
  ASSIGN_OR_RETURN(at::Tensor txt, EncodeText(tokens));
  ASSIGN_OR_RETURN(at::Tensor cos, PairCosine(img, txt));
  return std::exp(logit_scale_) * cos;
}

StatusOr<at::Tensor> PairCosine(const at::Tensor& a, const at::Tensor& b) {
  if (!a.defined() || !b.defined() || a.dim() != 2 || a.sizes() != b.sizes()) {
    return InvalidArgument("PairCosine needs two [B, E] tensors of one shape, got " + DescribeTensor(a) + " and " + DescribeTensor(b));
  }
  if (!at::isFloatingType(a.scalar_type()) || !at::isFloatingType(b.scalar_type())) {
    return InvalidArgument("PairCosine needs floating tensors");
  }
  try {
    torch::NoGradGuard no_grad;
    const auto dt = (a.scalar_type() == at::kDouble || b.scalar_type() == at::kDouble) ? at::kDouble : at::kFloat;
    auto x = a.to(dt), y = b.to(x.device(), dt);
    // As open_clip / HF: normalise each side, then the dot product (no epsilon).
    return ((x / x.norm(2, -1, true)) * (y / y.norm(2, -1, true))).sum(-1);
  } catch (const c10::Error& e) {
    return Internal(std::string("PairCosine failed: ") + e.what_without_backtrace());
  }
}

}  // namespace maskgrpo::clip
