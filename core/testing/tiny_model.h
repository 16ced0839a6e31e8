// Test helpers: a tiny model config and prompt batches, shared by the core unit tests.
#pragma once

#include "core/torch_api.h"

#include "core/transformer.h"
#include "core/trajectory.h"

namespace maskgrpo::testing {

// hidden 32, 2 layers, 2 heads (head_dim 16, rotary on 8), text_len 6, image_len N, K codes.
inline ModelConfig TinyConfig(int64_t image_len = 16, int64_t codes = 12) {
  ModelConfig c;
  c.hidden_size = 32;
  c.num_layers = 2;
  c.num_heads = 2;
  c.intermediate_size = 64;
  c.rotary_dim = 8;
  c.pad_id = 0;
  c.soi_id = 10;
  c.eoi_id = 11;
  c.image_token_offset = 12;
  c.num_image_codes = codes;
  c.mask_id = c.image_token_offset + codes;
  c.vocab_size = c.mask_id + 1;
  c.text_len = 6;
  c.image_len = image_len;
  return c;
}

// Prompts with `valid_len` leading real tokens (ids 1..9) and pads after.
inline PromptBatch TinyPrompts(int64_t batch, int64_t text_len, int64_t valid_len, uint64_t seed = 0) {
  auto gen = at::detail::createCPUGenerator(seed);
  auto ids = torch::randint(1, 10, {batch, text_len}, gen, torch::kLong);
  ids.slice(1, valid_len).fill_(0);
  return PromptBatch{ids, ids != 0};
}

}  // namespace maskgrpo::testing
