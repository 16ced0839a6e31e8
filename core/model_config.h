// Configuration of the Show-o style masked transformer and its token layout.
//
// One struct serves every size: the embedded ShapeWorld model and Show-o itself
// (see ShowO512()). The token layout mirrors Show-o: text tokens first, then special
// tokens, then image codes at `image_token_offset`, and the mask token last.
#pragma once

#include <cstdint>
#include <string>

#include "core/json.h"
#include "core/status.h"

namespace maskgrpo {

struct ModelConfig {
  // Transformer shape (Phi-1.5 layout).
  int64_t vocab_size = 0;
  int64_t hidden_size = 128;
  int64_t num_layers = 4;
  int64_t num_heads = 4;
  int64_t intermediate_size = 512;
  int64_t rotary_dim = 16;  // rotary embedding on the first rotary_dim dims of each head
  double rope_theta = 10000.0;
  double layer_norm_eps = 1e-5;
  // Show-o's vendored Phi: a LayerNorm over each head's query and key vectors, applied
  // before the rotary embedding (`self_attn.q_layernorm` / `k_layernorm`, [head_dim]).
  // Stock Phi-1.5 and the embedded ShapeWorld model have none.
  bool qk_layernorm = false;

  // Token layout: [text (text_len) | soi | image (image_len) | eoi].
  int64_t pad_id = 0;
  int64_t soi_id = 0;
  int64_t eoi_id = 0;
  int64_t image_token_offset = 0;  // image code c is token image_token_offset + c
  int64_t num_image_codes = 0;
  int64_t mask_id = 0;             // the last id of the vocabulary
  int64_t text_len = 16;
  int64_t image_len = 64;

  int64_t head_dim() const { return hidden_size / num_heads; }
  int64_t seq_len() const { return text_len + image_len + 2; }
  int64_t image_begin() const { return text_len + 1; }  // first image-token position

  // Checks every invariant; the message names the offending field.
  Status Validate() const;
  Json ToJson() const;
  static StatusOr<ModelConfig> FromJson(const Json& json);

  // Show-o at 512x512 (Phi-1.5 backbone with qk_layernorm, 1.45B parameters): the
  // published layout (showo-stack.md 1-2): 129 text positions, <|soi|> 50296, 1024 image
  // positions, <|eoi|> 50297, image codes at 50305.., mask 58497.
  static ModelConfig ShowO512();
};

}  // namespace maskgrpo
