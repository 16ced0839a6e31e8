// The Show-o style masked generative transformer (Phi-1.5 block layout).
//
// Parallel pre-LayerNorm blocks (h = x + Attn(LN(x)) + MLP(LN(x))), partial rotary
// embeddings, biases on q/k/v/dense and the untied lm_head, tanh-GELU MLP, final LayerNorm,
// and Show-o's omni-attention. Parameter names follow the Hugging Face Phi layout so that a
// converted Show-o checkpoint loads by name.
//
// Thread-safety: Forward calls are const and may run concurrently only if no thread
// modifies the parameters; the owner (trainer, sampler) serialises updates.
#pragma once

#include <ATen/core/Tensor.h>

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/device.h"
#include "core/model_config.h"
#include "core/status.h"

namespace maskgrpo {

// Keys and values of the prompt rows at every layer. Under omni-attention text rows attend
// only to earlier text, never to the image span, so these do not depend on the image tokens:
// one encoding serves every unmasking step of a rollout and every replayed step of a sample.
struct TextContext {
  std::vector<at::Tensor> keys, values;  // per layer [B, heads, text_len, head_dim], rotary applied
  at::Tensor key_valid;                  // [B, text_len] bool: false at pad positions
  int64_t batch() const { return key_valid.defined() ? key_valid.size(0) : 0; }
  bool defined() const { return key_valid.defined(); }

  // Each row `n` times in a row (row b becomes rows b*n .. b*n+n-1).
  TextContext RepeatRows(int64_t n) const;
  // A one-row context seen as `rows` rows, without copying.
  TextContext ExpandRows(int64_t rows) const;
  // This context's rows, then `other`'s.
  TextContext Concat(const TextContext& other) const;
};

class MaskedTransformer {
 public:
  // Builds a randomly initialised model: normal(0, 1/sqrt(fan_in)) weights, zero biases,
  // unit LayerNorm scales.
  static StatusOr<std::unique_ptr<MaskedTransformer>> Create(const ModelConfig& config,
                                                              const DeviceOptions& device,
                                                              uint64_t init_seed);
  ~MaskedTransformer();

  // input_ids: [B, seq_len] int64 in the layout of ModelConfig; text_valid: [B, text_len]
  // bool, false at pad positions. Returns the image-code logits read at the image
  // positions themselves, [B, image_len, num_image_codes], in float32 (float64 for a float64 model).
  at::Tensor ImageLogits(const at::Tensor& input_ids, const at::Tensor& text_valid) const;

  // The same from a prompt context (EncodeText) and the image span alone: span_ids
  // [B, image_len + 2] = soi, image tokens, eoi. The context's batch must equal B.
  // ImageLogits(ids, valid) == SpanImageLogits(EncodeText(text part, valid), span part).
  at::Tensor SpanImageLogits(const TextContext& text, const at::Tensor& span_ids) const;

  // The prompt rows' keys and values at every layer: text_ids [B, text_len] int64,
  // text_valid [B, text_len] bool. Differentiable when autograd is on.
  TextContext EncodeText(const at::Tensor& text_ids, const at::Tensor& text_valid) const;

  // The full forward for tests, and the reference the split forward is checked against:
  // logits over the whole vocabulary at every position, [B, seq_len, vocab_size], float32.
  at::Tensor AllLogits(const at::Tensor& input_ids, const at::Tensor& text_valid) const;

  // The omni-attention mask for a batch: [B, seq_len, seq_len] bool, true = may attend.
  at::Tensor AttentionMask(const at::Tensor& text_valid) const;

  // Parameters in Hugging Face Phi naming, in a stable order.
  std::vector<std::pair<std::string, at::Tensor>> NamedParameters() const;
  std::vector<at::Tensor> Parameters() const;
  int64_t NumParameters() const;

  // Replaces every parameter with the given tensors. Validates all names, shapes and
  // finiteness first; on error nothing is changed. With `subset`, `state` may name only some
  // parameters (a weights stream of the trained ones); the others keep their values.
  enum class Coverage { kAll, kSubset };
  Status LoadState(const std::map<std::string, at::Tensor>& state, Coverage coverage = Coverage::kAll);

  const ModelConfig& config() const { return config_; }
  at::Device device() const;
  at::ScalarType dtype() const;

 // Opaque; public only so that helpers in transformer.cc can take it.
  struct Impl;

 private:
  MaskedTransformer(ModelConfig config, std::unique_ptr<Impl> impl);
  ModelConfig config_;
  std::unique_ptr<Impl> impl_;
};

// Whether attention runs on LibTorch's fused kernel (at::scaled_dot_product_attention,
// LibTorch >= 2.0, decided at build time) or on the explicit path with float32 scores.
// AllLogits always takes the explicit path: it is the reference the other is tested against.
bool FusedAttentionAvailable();

// Rotary embedding (NeoX / HF Phi "rotate half" convention) applied to the first
// `rotary_dim` dims of x [..., S, head_dim]; the other dims pass through unchanged.
// cos/sin: [S, rotary_dim] tables from RotaryTables.
std::pair<at::Tensor, at::Tensor> RotaryTables(int64_t seq_len, int64_t rotary_dim, double theta);
at::Tensor ApplyRotary(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin, int64_t rotary_dim);


}  // namespace maskgrpo
