// Prompts and compact trajectories: the data the sampler produces and the learner consumes.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include <cstdint>

namespace maskgrpo {

// Tokenised prompts in the model's text layout.
struct PromptBatch {
  at::Tensor text_ids;    // [B, text_len] int64, pad-filled
  at::Tensor text_valid;  // [B, text_len] bool, false at pads
  int64_t size() const { return text_ids.size(0); }
  PromptBatch Rows(int64_t begin, int64_t end) const;  // prompts [begin, end), views
  PromptBatch Select(const at::Tensor& index) const;   // the prompts `index` (int64), copies
  PromptBatch To(const c10::Device& device) const;     // on `device` (itself where it is already)
};

// A batch of trajectories in the compact form of mask-grpo.md section 2. Everything
// needed to rebuild each intermediate state: state before step t = tokens where
// reveal_step < t, masked elsewhere.
struct TrajectoryBatch {
  int64_t steps = 0;
  at::Tensor tokens;       // [B, N] int64 final image codes in [0, num_image_codes)
  at::Tensor reveal_step;  // [B, N] int64 step at which each position was revealed
  at::Tensor min_revealed_prob;  // [B, T] float32, c_t: smallest p_i(y_i) revealed at step t
  // Behaviour policy's step log-probability under each transition definition, [B, T] float32.
  at::Tensor logp_candidate1;
  at::Tensor logp_candidate2;
  at::Tensor logp_full;
  int64_t size() const { return tokens.size(0); }
  // Trajectories [begin, end) as views, or the rows `index` (int64) as copies; a quantity that
  // was not recorded (e.g. logp_full without record_full) stays undefined.
  TrajectoryBatch Rows(int64_t begin, int64_t end) const;
  TrajectoryBatch Select(const at::Tensor& index) const;
  // Every recorded quantity on `device` (one transfer each, so a caller that splits a batch
  // into groups moves the batch once rather than each group's slices).
  TrajectoryBatch To(const c10::Device& device) const;
};

}  // namespace maskgrpo
