// Show-o's transformer from the files a user has: a Show-o checkpoint directory as
// published (showlab/show-o-512x512, showlab/show-o, or one saved by Show-o's training)
// and, optionally, the Phi-1.5 config it was built from.
//
// What is read from where (showo-stack.md 1): tensor names carry the `showo.` prefix of
// Show-o's module tree; the transformer's shape comes from the tensors themselves (hidden
// size, layers, MLP width, vocabulary, and the head size from q_layernorm); the token
// layout from Show-o's config.json (vocab_size, codebook_size, num_vq_tokens,
// mask_token_id); rotary fraction, rope theta and LayerNorm eps from the Phi config when
// given (Phi-1.5's values otherwise). Loading is strict: every missing, unexpected or
// mis-shaped tensor is named, and nothing is built on error.
#pragma once

#include <memory>
#include <string>

#include "core/checkpoint/checkpoint_files.h"
#include "core/json.h"
#include "core/transformer.h"

namespace maskgrpo::showo {

struct ShowoLoadOptions {
  std::string checkpoint_dir;  // config.json + pytorch_model.{safetensors,bin} (or sharded)
  std::string phi_config;      // optional: Phi-1.5's config.json (partial_rotary_factor, ...)
  int64_t text_len = 129;      // Show-o's max_seq_length (128) + 1
  // Special ids of the text layout; -1 = Show-o's order after the LLM vocabulary
  // ([PAD] = llm_vocab_size, <|soi|> +1, <|eoi|> +2). The Show-o world passes the ids its
  // tokenizer assigned, so a tokenizer that disagrees is caught there.
  int64_t pad_id = -1, soi_id = -1, eoi_id = -1;
};

// The model config for a Show-o state (names without the `showo.` prefix) and config.json.
StatusOr<ModelConfig> ShowoModelConfig(const TensorFile& state, const Json& showo_config, const Json* phi_config,
                                       const ShowoLoadOptions& options);

// Strips Show-o's `showo.` prefix (every tensor must have it, or none) and drops the
// non-persistent rotary buffers older Phi code saved (`*.rotary_emb.inv_freq`).
StatusOr<TensorFile> ShowoStateFromCheckpoint(TensorFile checkpoint);

// Reads the directory, derives the config, builds the model on `device` in its dtype and
// loads every tensor (converted from the dtype on disk).
StatusOr<std::unique_ptr<MaskedTransformer>> LoadShowoModel(const ShowoLoadOptions& options,
                                                             const DeviceOptions& device);

}  // namespace maskgrpo::showo
