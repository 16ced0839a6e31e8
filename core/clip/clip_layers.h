// Internal to the CLIP model (clip_config.cc, clip_model.cc): the one weight representation
// both checkpoint layouts map to, and the walk that names each tensor per layout.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/clip/clip_model.h"

namespace maskgrpo::clip::internal {

// How a tensor is stored once loaded: weights in the model dtype, LayerNorm parameters in
// float32 (the statistics are computed in float32, as open_clip's LayerNorm subclass does).
enum class Kind { kWeight, kNorm };

// Called once per published tensor, in execution order. The recording binder returns an
// undefined tensor; BuildWeights then skips the fusing/transposing it would do.
using Binder = std::function<at::Tensor(const std::string& name, const std::vector<int64_t>& shape, Kind kind)>;

struct Linear {
  at::Tensor w, b;  // w [out, in]
};
struct Norm {
  at::Tensor w, b;
};
struct Block {
  Norm ln_1, ln_2;
  Linear qkv;  // [3W, W]: rows q; k; v (open_clip's in_proj, or HF's q/k/v_proj concatenated)
  Linear out, fc, proj;
};
struct Vision {
  at::Tensor conv1;                 // [W, 3, P, P], no bias
  at::Tensor class_embedding;       // [W]
  at::Tensor positional_embedding;  // [grid^2 + 1, W]
  Norm ln_pre, ln_post;
  std::vector<Block> blocks;
  at::Tensor proj;                  // [W, E], used as x @ proj (HF's visual_projection.weight transposed)
};
struct Text {
  at::Tensor token_embedding;       // [vocab, W]
  at::Tensor positional_embedding;  // [ctx, W]
  std::vector<Block> blocks;
  Norm ln_final;
  at::Tensor projection;            // [W, E], used as x @ projection
};
struct Weights {
  Vision vision;
  Text text;
  at::Tensor logit_scale;  // [] (kept in float32: its exp multiplies the cosine)
};

// Walks a complete, validated config in `layout` order and naming.
Weights BuildWeights(const ClipConfig& config, ClipLayout layout, const Binder& bind);

// Fills every size the file tells, checking it against the sizes `config` gives; the
// problems found are appended to `problems` (naming the tensor each size comes from).
ClipConfig ResolveConfig(const ClipConfig& config, const TensorFile& file, ClipLayout layout,
                         std::vector<std::string>& problems);

// True for tensors a layout may hold that carry nothing (HF's position_ids buffers).
bool IsIgnoredBuffer(const std::string& name);

}  // namespace maskgrpo::clip::internal
