// Transition log-probabilities of one unmasking step (mask-grpo.md section 3), and the
// replay that recomputes them from compact trajectories.
#pragma once

#include <ATen/core/Tensor.h>

#include <string>
#include <vector>

#include "core/status.h"
#include "core/trajectory.h"
#include "core/transformer.h"

namespace maskgrpo {

enum class Transition { kCandidate1, kCandidate2, kFull };
StatusOr<Transition> ParseTransition(const std::string& name);
const char* TransitionName(Transition t);

struct StepLogProbs {
  at::Tensor candidate1;  // [R]
  at::Tensor candidate2;  // [R]
  at::Tensor full;        // [R]
  // Mean entropy (nats) of the policy's token distribution over the positions revealed at
  // the step, without gradient: a diagnostic of how decided the policy is where it acts.
  at::Tensor entropy;     // [R]
  const at::Tensor& Get(Transition t) const;
};

// The three definitions for R states at once.
//   logp:       [R, N, K] float32 log-probabilities of the step's forward
//   tokens:     [R, N] int64 tokens chosen at the positions (revealed ones; for `full`,
//               the trajectory's final tokens)
//   revealed:   [R, N] bool, U_t;  remaining: [R, N] bool, R_t
//   min_prob:   [R] float32 c_t
// candidate1 adds, for each i in R_t, log sum_{k: p_i(k) < c_t} p_i(k), with the set's edge
// softened over kCandidate1ThresholdSoftness nats (see transition.cc): each p_i(k) is weighted
// by sigmoid((log c_t - log p_i(k)) / softness), so the value is continuous in the logits and
// finite even for an empty set.
inline constexpr double kCandidate1ThresholdSoftness = 0.02;
StepLogProbs ComputeStepLogProbs(const at::Tensor& logp, const at::Tensor& tokens, const at::Tensor& revealed,
                                 const at::Tensor& remaining, const at::Tensor& min_prob);

// Classifier-free guidance on logits: (1 + w) * cond - w * uncond.
at::Tensor GuidedLogits(const at::Tensor& cond, const at::Tensor& uncond, double w);

// The model's image-code log-probabilities for a batch of states, with CFG when w != 0
// (the unconditional twin uses `uncond`, a [1, text_len] prompt broadcast to the batch).
// codes: [B, N] int64 with -1 for masked positions. Returns [B, N, K] float32.
// detach_uncond: the unconditional twin runs without autograd, so gradients reach the
// model only through the conditional logits (the values are the same).
at::Tensor ImageLogProbs(const MaskedTransformer& model, const PromptBatch& prompts, const PromptBatch& uncond,
                         const at::Tensor& codes, double guidance, double temperature = 1.0,
                         bool detach_uncond = false);

// Rebuilds the states of the selected steps of every trajectory and recomputes the step
// log-probabilities in one batched forward over (trajectories x steps). Result tensors are
// [B, steps.size()], differentiable when grad mode is on.
StatusOr<StepLogProbs> ReplayStepLogProbs(const MaskedTransformer& model, const PromptBatch& prompts,
                                          const PromptBatch& uncond, const TrajectoryBatch& traj,
                                          const std::vector<int64_t>& steps, double guidance,
                                          bool detach_uncond = false);

// The state before step t: tokens where reveal_step < t, -1 (masked) elsewhere.
at::Tensor StateBeforeStep(const TrajectoryBatch& traj, int64_t t);

}  // namespace maskgrpo
