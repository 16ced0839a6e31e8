#include "core/transformer.h"

#include "core/float_sum_ops.h"
#include "core/torch_api.h"
#include <torch/version.h>

#include <cmath>
#include <limits>

// The fused attention kernel exists from LibTorch 2.0 (Debian 12 ships 1.13).
#if defined(TORCH_VERSION_MAJOR) && TORCH_VERSION_MAJOR >= 2
#define MASKGRPO_FUSED_ATTENTION 1
#endif

namespace maskgrpo {
namespace {

namespace F = torch::nn::functional;

// One Phi block: attention and MLP in parallel off the same LayerNorm output.
struct PhiAttentionImpl : torch::nn::Module {
  PhiAttentionImpl(const ModelConfig& c)
      : q_proj(register_module("q_proj", torch::nn::Linear(c.hidden_size, c.hidden_size))),
        k_proj(register_module("k_proj", torch::nn::Linear(c.hidden_size, c.hidden_size))),
        v_proj(register_module("v_proj", torch::nn::Linear(c.hidden_size, c.hidden_size))),
        dense(register_module("dense", torch::nn::Linear(c.hidden_size, c.hidden_size))) {
    if (c.qk_layernorm) {
      auto options = torch::nn::LayerNormOptions({c.head_dim()}).eps(c.layer_norm_eps);
      q_layernorm = register_module("q_layernorm", torch::nn::LayerNorm(options));
      k_layernorm = register_module("k_layernorm", torch::nn::LayerNorm(options));
    }
  }
  torch::nn::Linear q_proj, k_proj, v_proj, dense;
  torch::nn::LayerNorm q_layernorm{nullptr}, k_layernorm{nullptr};  // set when qk_layernorm
};
TORCH_MODULE(PhiAttention);

struct PhiMlpImpl : torch::nn::Module {
  PhiMlpImpl(const ModelConfig& c)
      : fc1(register_module("fc1", torch::nn::Linear(c.hidden_size, c.intermediate_size))),
        fc2(register_module("fc2", torch::nn::Linear(c.intermediate_size, c.hidden_size))) {}
  torch::nn::Linear fc1, fc2;
};
TORCH_MODULE(PhiMlp);

struct PhiLayerImpl : torch::nn::Module {
  PhiLayerImpl(const ModelConfig& c)
      : self_attn(register_module("self_attn", PhiAttention(c))),
        mlp(register_module("mlp", PhiMlp(c))),
        input_layernorm(register_module(
            "input_layernorm",
            torch::nn::LayerNorm(torch::nn::LayerNormOptions({c.hidden_size}).eps(c.layer_norm_eps)))) {}
  PhiAttention self_attn;
  PhiMlp mlp;
  torch::nn::LayerNorm input_layernorm;
};
TORCH_MODULE(PhiLayer);

struct PhiModelImpl : torch::nn::Module {
  PhiModelImpl(const ModelConfig& c)
      : embed_tokens(register_module("embed_tokens", torch::nn::Embedding(c.vocab_size, c.hidden_size))),
        layers(register_module("layers", torch::nn::ModuleList())),
        final_layernorm(register_module(
            "final_layernorm",
            torch::nn::LayerNorm(torch::nn::LayerNormOptions({c.hidden_size}).eps(c.layer_norm_eps)))) {
    for (int64_t i = 0; i < c.num_layers; ++i) layers->push_back(PhiLayer(c));
  }
  torch::nn::Embedding embed_tokens;
  torch::nn::ModuleList layers;
  torch::nn::LayerNorm final_layernorm;
};
TORCH_MODULE(PhiModel);

struct RootImpl : torch::nn::Module {
  RootImpl(const ModelConfig& c)
      : model(register_module("model", PhiModel(c))),
        lm_head(register_module("lm_head", torch::nn::Linear(c.hidden_size, c.vocab_size))) {}
  PhiModel model;
  torch::nn::Linear lm_head;
};
TORCH_MODULE(Root);

torch::Tensor RotateHalf(const torch::Tensor& x) {
  int64_t half = x.size(-1) / 2;
  return torch::cat({-x.slice(-1, half), x.slice(-1, 0, half)}, -1);
}

}  // namespace

struct MaskedTransformer::Impl {
  Root root{nullptr};
  torch::Tensor cos, sin;  // [seq_len, rotary_dim], in the model dtype
};

MaskedTransformer::MaskedTransformer(ModelConfig config, std::unique_ptr<Impl> impl)
    : config_(std::move(config)), impl_(std::move(impl)) {}
MaskedTransformer::~MaskedTransformer() = default;

StatusOr<std::unique_ptr<MaskedTransformer>> MaskedTransformer::Create(const ModelConfig& config,
                                                                       const DeviceOptions& options,
                                                                       uint64_t init_seed) {
  RETURN_IF_ERROR(config.Validate());
  ASSIGN_OR_RETURN(at::Device device, ParseDevice(options.device));
  ASSIGN_OR_RETURN(at::ScalarType dtype, ParseDtype(options.dtype));
  try {
    auto impl = std::make_unique<Impl>();
    impl->root = Root(config);
    // Initialise on the CPU with a private generator so the result does not depend on the
    // device or on global RNG state.
    auto gen = at::detail::createCPUGenerator(init_seed);
    torch::NoGradGuard no_grad;
    for (auto& item : impl->root->named_parameters()) {
      const std::string& name = item.key();
      torch::Tensor p = item.value();
      bool is_bias_or_norm = name.find("bias") != std::string::npos || name.find("layernorm") != std::string::npos;
      if (name.find("layernorm.weight") != std::string::npos) {
        p.fill_(1.0);
      } else if (is_bias_or_norm) {
        p.zero_();
      } else {
        // Fan-in scaled init: ~0.02 at Show-o's width (2048), but 0.09 at width 128, where a
        // fixed 0.02 leaves attention logits near zero and attention uniform for a long time.
        p.copy_(at::normal(0.0, 1.0 / std::sqrt(static_cast<double>(p.size(1))), p.sizes(), gen));
      }
    }
    impl->root->to(device, dtype);
    // Rotary tables (NeoX / HF Phi convention: rotate-half on the first rotary_dim dims).
    if (config.rotary_dim > 0) {
      auto [cos, sin] = RotaryTables(config.seq_len(), config.rotary_dim, config.rope_theta);
      impl->cos = cos.to(device, dtype);
      impl->sin = sin.to(device, dtype);
    }
    return std::unique_ptr<MaskedTransformer>(new MaskedTransformer(config, std::move(impl)));
  } catch (const c10::Error& e) {
    return Internal(std::string("creating the model failed: ") + e.what_without_backtrace());
  }
}

at::Device MaskedTransformer::device() const { return impl_->root->lm_head->weight.device(); }
at::ScalarType MaskedTransformer::dtype() const { return impl_->root->lm_head->weight.scalar_type(); }

at::Tensor MaskedTransformer::AttentionMask(const at::Tensor& text_valid) const {
  const int64_t B = text_valid.size(0), L = config_.text_len, S = config_.seq_len();
  auto dev = text_valid.device();
  auto pos = torch::arange(S, torch::TensorOptions().device(dev));
  auto is_text = pos < L;                                   // [S]
  // Key validity: text keys only where not pad; the image span (soi..eoi) always.
  auto key_valid = torch::ones({B, S}, torch::TensorOptions().dtype(torch::kBool).device(dev));
  key_valid.slice(1, 0, L).copy_(text_valid);
  auto causal = pos.unsqueeze(1) >= pos.unsqueeze(0);        // [S, S] q >= k
  auto q_text = is_text.unsqueeze(1), k_text = is_text.unsqueeze(0);
  // Text rows: causal over text keys. Image-span rows: all text keys and the whole span.
  auto structural = torch::where(q_text, causal & k_text, torch::ones_like(causal));
  auto mask = structural.unsqueeze(0) & key_valid.unsqueeze(1);  // [B, S, S]
  // Every row may see itself, so a pad row (or the text rows of an empty prompt) never
  // has an all-masked softmax. Nothing else reads a pad row, so this leaks nothing.
  mask = mask | torch::eye(S, torch::TensorOptions().dtype(torch::kBool).device(dev)).unsqueeze(0);
  return mask;
}

std::pair<at::Tensor, at::Tensor> RotaryTables(int64_t seq_len, int64_t rd, double theta) {
  auto inv_freq = 1.0 / torch::pow(torch::tensor(theta, torch::kDouble),
                                   torch::arange(0, rd, 2, torch::kDouble) / static_cast<double>(rd));
  auto freqs = torch::outer(torch::arange(seq_len, torch::kDouble), inv_freq);
  auto emb = torch::cat({freqs, freqs}, -1);
  return {emb.cos(), emb.sin()};
}

at::Tensor ApplyRotary(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin, int64_t rd) {
  if (rd == 0) return x;
  auto x_rot = x.slice(-1, 0, rd), x_pass = x.slice(-1, rd);
  auto rotated = x_rot * cos + RotateHalf(x_rot) * sin;
  return torch::cat({rotated, x_pass}, -1);
}

static torch::Tensor HiddenStates(const ModelConfig& c, MaskedTransformer::Impl& impl, const torch::Tensor& mask_bias,
                                  const torch::Tensor& input_ids) {
  const int64_t B = input_ids.size(0), S = input_ids.size(1), H = c.num_heads, D = c.head_dim();
  auto h = impl.root->model->embed_tokens(input_ids);
  const double scale = 1.0 / std::sqrt(static_cast<double>(D));
  for (const auto& module : *impl.root->model->layers) {
    auto* layer = module->as<PhiLayerImpl>();
    auto x = layer->input_layernorm(h);
    auto& attn = *layer->self_attn;
    auto q = attn.q_proj(x).view({B, S, H, D}).transpose(1, 2);
    auto k = attn.k_proj(x).view({B, S, H, D}).transpose(1, 2);
    auto v = attn.v_proj(x).view({B, S, H, D}).transpose(1, 2);
    if (c.qk_layernorm) {  // Show-o: over each head's vector, before the rotary embedding
      q = attn.q_layernorm(q);
      k = attn.k_layernorm(k);
    }
    q = ApplyRotary(q, impl.cos, impl.sin, c.rotary_dim);
    k = ApplyRotary(k, impl.cos, impl.sin, c.rotary_dim);
    // Scores in at least float32 (as HF Phi does) for a stable softmax under bfloat16.
    const auto score_type = at::promote_types(q.scalar_type(), torch::kFloat);
    auto scores = torch::matmul(q.to(score_type), k.to(score_type).transpose(-1, -2)) * scale + mask_bias;
    auto probs = torch::softmax(scores, -1).to(v.scalar_type());
    auto ctx = MatmulFloatSum(probs, v).transpose(1, 2).reshape({B, S, H * D});  // float32 sums on a CPU
    auto attn_out = attn.dense(ctx);
    auto mlp_out = layer->mlp->fc2(F::gelu(layer->mlp->fc1(x), F::GELUFuncOptions().approximate("tanh")));
    h = h + attn_out + mlp_out;
  }
  return impl.root->model->final_layernorm(h);
}

static torch::Tensor MaskBias(const torch::Tensor& mask) {
  auto bias = torch::zeros(mask.sizes(), mask.options().dtype(torch::kFloat));
  bias.masked_fill_(mask.logical_not(), -std::numeric_limits<float>::infinity());
  return bias.unsqueeze(1);  // broadcast over heads
}

namespace {

struct Qkv {
  torch::Tensor q, k, v;  // [B, heads, n, head_dim], rotary applied
};

// One layer's queries, keys and values for rows at positions [begin, begin + n).
Qkv Project(const ModelConfig& c, const MaskedTransformer::Impl& impl, PhiAttentionImpl& attn, const torch::Tensor& x,
            int64_t begin) {
  const int64_t B = x.size(0), n = x.size(1), H = c.num_heads, D = c.head_dim();
  Qkv out{attn.q_proj(x).view({B, n, H, D}).transpose(1, 2), attn.k_proj(x).view({B, n, H, D}).transpose(1, 2),
          attn.v_proj(x).view({B, n, H, D}).transpose(1, 2)};
  if (c.qk_layernorm) {
    out.q = attn.q_layernorm(out.q);
    out.k = attn.k_layernorm(out.k);
  }
  if (c.rotary_dim > 0) {
    auto cos = impl.cos.slice(0, begin, begin + n), sin = impl.sin.slice(0, begin, begin + n);
    out.q = ApplyRotary(out.q, cos, sin, c.rotary_dim);
    out.k = ApplyRotary(out.k, cos, sin, c.rotary_dim);
  }
  return out;
}

// softmax(q k^T / sqrt(head_dim) + mask) v, merged back to [B, n, hidden]. `allowed` is
// bool, broadcastable to [B, heads, n, keys], true where a query may attend; no row is empty.
torch::Tensor Attend(const Qkv& qkv, const torch::Tensor& k, const torch::Tensor& v, const torch::Tensor& allowed) {
  const int64_t B = qkv.q.size(0), H = qkv.q.size(1), n = qkv.q.size(2), D = qkv.q.size(3);
#ifdef MASKGRPO_FUSED_ATTENTION
  // LibTorch >= 2.0: the fused kernel (flash / memory-efficient on CUDA, a blocked kernel on
  // CPU) never materialises the scores; it accumulates in float32 for half types.
  auto ctx = at::scaled_dot_product_attention(qkv.q, k, v, allowed);
#else
  // Scores in at least float32 (as HF Phi does) for a stable softmax under bfloat16.
  const auto score_type = at::promote_types(qkv.q.scalar_type(), torch::kFloat);
  auto bias = torch::zeros(allowed.sizes(), allowed.options().dtype(score_type))
                  .masked_fill_(allowed.logical_not(), -std::numeric_limits<double>::infinity());
  auto scores = torch::matmul(qkv.q.to(score_type), k.to(score_type).transpose(-1, -2)) *
                    (1.0 / std::sqrt(static_cast<double>(D))) +
                bias;
  auto ctx = MatmulFloatSum(torch::softmax(scores, -1).to(v.scalar_type()), v);  // float32 sums on a CPU
#endif
  return ctx.transpose(1, 2).reshape({B, n, H * D});
}

torch::Tensor MlpOut(PhiLayerImpl& layer, const torch::Tensor& x) {
  return layer.mlp->fc2(F::gelu(layer.mlp->fc1(x), F::GELUFuncOptions().approximate("tanh")));
}

}  // namespace

bool FusedAttentionAvailable() {
#ifdef MASKGRPO_FUSED_ATTENTION
  return true;
#else
  return false;
#endif
}

TextContext MaskedTransformer::EncodeText(const at::Tensor& text_ids, const at::Tensor& text_valid) const {
  const auto& c = config_;
  const int64_t L = c.text_len;
  TORCH_CHECK(text_ids.dim() == 2 && text_ids.size(1) == L, "EncodeText: text_ids must be [B, text_len]");
  TORCH_CHECK(text_valid.sizes() == text_ids.sizes(), "EncodeText: text_valid must match text_ids");
  auto dev = text_ids.device();
  // Causal over valid text keys; every row sees itself (as in AttentionMask).
  auto pos = torch::arange(L, torch::TensorOptions().device(dev));
  auto causal = pos.unsqueeze(1) >= pos.unsqueeze(0);  // [L, L]
  auto allowed = (causal.unsqueeze(0) & text_valid.to(torch::kBool).unsqueeze(1)) |
                 torch::eye(L, torch::TensorOptions().dtype(torch::kBool).device(dev)).unsqueeze(0);
  allowed = allowed.unsqueeze(1);  // [B, 1, L, L]
  TextContext out;
  out.key_valid = text_valid.to(torch::kBool);
  auto h = impl_->root->model->embed_tokens(text_ids);
  const auto& layers = *impl_->root->model->layers;
  for (size_t i = 0; i < layers.size(); ++i) {
    auto* layer = layers[i]->as<PhiLayerImpl>();
    auto x = layer->input_layernorm(h);
    Qkv qkv = Project(c, *impl_, *layer->self_attn, x, /*begin=*/0);
    out.keys.push_back(qkv.k);
    out.values.push_back(qkv.v);
    if (i + 1 == layers.size()) break;  // the last layer's text outputs are never read
    h = h + layer->self_attn->dense(Attend(qkv, qkv.k, qkv.v, allowed)) + MlpOut(*layer, x);
  }
  return out;
}

at::Tensor MaskedTransformer::SpanImageLogits(const TextContext& text, const at::Tensor& span_ids) const {
  const auto& c = config_;
  const int64_t B = span_ids.size(0), n = span_ids.size(1), L = c.text_len;
  TORCH_CHECK(span_ids.dim() == 2 && n == c.image_len + 2, "SpanImageLogits: span_ids must be [B, image_len + 2]");
  TORCH_CHECK(text.batch() == B && static_cast<int64_t>(text.keys.size()) == c.num_layers,
              "SpanImageLogits: the text context does not match the span batch or the model");
  // Image-span rows see every valid text key and the whole span.
  auto allowed = torch::cat({text.key_valid, torch::ones({B, n}, text.key_valid.options())}, 1).view({B, 1, 1, L + n});
  auto h = impl_->root->model->embed_tokens(span_ids);
  const auto& layers = *impl_->root->model->layers;
  for (size_t i = 0; i < layers.size(); ++i) {
    auto* layer = layers[i]->as<PhiLayerImpl>();
    auto x = layer->input_layernorm(h);
    Qkv qkv = Project(c, *impl_, *layer->self_attn, x, /*begin=*/L);
    auto k = torch::cat({text.keys[i], qkv.k}, 2), v = torch::cat({text.values[i], qkv.v}, 2);
    h = h + layer->self_attn->dense(Attend(qkv, k, v, allowed)) + MlpOut(*layer, x);
  }
  h = impl_->root->model->final_layernorm(h.slice(1, 1, 1 + c.image_len));
  // Only the image-code rows of the head are needed: saves (vocab - K) / vocab of the head
  // cost, which dominates for Show-o's 58k vocabulary.
  const int64_t off = c.image_token_offset, K = c.num_image_codes;
  auto w = impl_->root->lm_head->weight.slice(0, off, off + K);
  auto b = impl_->root->lm_head->bias.slice(0, off, off + K);
  auto logits = F::linear(h, w, b);
  return logits.to(at::promote_types(logits.scalar_type(), torch::kFloat));
}

at::Tensor MaskedTransformer::ImageLogits(const at::Tensor& input_ids, const at::Tensor& text_valid) const {
  const int64_t L = config_.text_len;
  return SpanImageLogits(EncodeText(input_ids.slice(1, 0, L), text_valid), input_ids.slice(1, L));
}

TextContext TextContext::RepeatRows(int64_t n) const {
  TextContext out;
  for (const auto& k : keys) out.keys.push_back(k.repeat_interleave(n, 0));
  for (const auto& v : values) out.values.push_back(v.repeat_interleave(n, 0));
  out.key_valid = key_valid.repeat_interleave(n, 0);
  return out;
}

TextContext TextContext::ExpandRows(int64_t rows) const {
  TORCH_CHECK(batch() == 1, "TextContext::ExpandRows: needs a one-row context");
  TextContext out;
  for (const auto& k : keys) out.keys.push_back(k.expand({rows, k.size(1), k.size(2), k.size(3)}));
  for (const auto& v : values) out.values.push_back(v.expand({rows, v.size(1), v.size(2), v.size(3)}));
  out.key_valid = key_valid.expand({rows, key_valid.size(1)});
  return out;
}

TextContext TextContext::Concat(const TextContext& other) const {
  TORCH_CHECK(keys.size() == other.keys.size(), "TextContext::Concat: different layer counts");
  TextContext out;
  for (size_t i = 0; i < keys.size(); ++i) {
    out.keys.push_back(torch::cat({keys[i], other.keys[i]}, 0));
    out.values.push_back(torch::cat({values[i], other.values[i]}, 0));
  }
  out.key_valid = torch::cat({key_valid, other.key_valid}, 0);
  return out;
}

at::Tensor MaskedTransformer::AllLogits(const at::Tensor& input_ids, const at::Tensor& text_valid) const {
  auto h = HiddenStates(config_, *impl_, MaskBias(AttentionMask(text_valid)), input_ids);
  auto logits = impl_->root->lm_head(h);
  return logits.to(at::promote_types(logits.scalar_type(), torch::kFloat));
}

std::vector<std::pair<std::string, at::Tensor>> MaskedTransformer::NamedParameters() const {
  std::vector<std::pair<std::string, at::Tensor>> out;
  for (auto& item : impl_->root->named_parameters()) out.emplace_back(item.key(), item.value());
  return out;
}

std::vector<at::Tensor> MaskedTransformer::Parameters() const { return impl_->root->parameters(); }

int64_t MaskedTransformer::NumParameters() const {
  int64_t n = 0;
  for (const auto& p : impl_->root->parameters()) n += p.numel();
  return n;
}

Status MaskedTransformer::LoadState(const std::map<std::string, at::Tensor>& state, Coverage coverage) {
  auto params = NamedParameters();
  size_t matched = 0;
  for (const auto& [name, p] : params) {
    auto it = state.find(name);
    if (it == state.end()) {
      if (coverage == Coverage::kSubset) continue;
      return InvalidArgument("missing tensor '" + name + "'");
    }
    ++matched;
    if (it->second.sizes() != p.sizes()) {
      return InvalidArgument("tensor '" + name + "' has shape " + c10::str(it->second.sizes()) + ", expected " +
                             c10::str(p.sizes()));
    }
    if (!at::isFloatingType(it->second.scalar_type())) {
      return InvalidArgument("tensor '" + name + "' has non-floating dtype " + c10::toString(it->second.scalar_type()));
    }
    if (!torch::isfinite(it->second).all().item<bool>()) return InvalidArgument("tensor '" + name + "' has NaN or Inf values");
  }
  if (state.size() != matched) {
    for (const auto& [name, t] : state) {
      bool known = false;
      for (const auto& [pname, p] : params) known = known || pname == name;
      if (!known) return InvalidArgument("unexpected tensor '" + name + "'");
    }
  }
  torch::NoGradGuard no_grad;
  for (auto& [name, p] : params) {
    if (auto it = state.find(name); it != state.end()) p.copy_(it->second);
  }
  return Status::Ok();
}

}  // namespace maskgrpo
