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

// kRemask is not a step of the trajectory: it scores the final image under seeded random
// re-masking (the likelihood family of MaskGRPO, arXiv 2510.02880, and UDM-GRPO, arXiv
// 2604.18518), see RemaskLogProbs. It needs only the final tokens.
enum class Transition { kCandidate1, kCandidate2, kFull, kRemask };
StatusOr<Transition> ParseTransition(const std::string& name);
const char* TransitionName(Transition t);

struct StepLogProbs {
  at::Tensor candidate1;  // [R]
  at::Tensor candidate2;  // [R]
  at::Tensor full;        // [R]
  // Mean entropy (nats) of the policy's token distribution over the positions revealed at
  // the step, without gradient: a diagnostic of how decided the policy is where it acts.
  at::Tensor entropy;     // [R]
  // The definition's tensor; throws (c10::Error) when it was not computed.
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
//   edge_width: [R] float32 widths (nats) of that soft edge per state; undefined: the fixed
//               kCandidate1ThresholdSoftness for every state.
inline constexpr double kCandidate1ThresholdSoftness = 0.02;
//   with_candidate1: false leaves `candidate1` undefined. Its term costs five passes over the
//               [R, N, K] log-probs (and under autograd keeps tensors of that size for the
//               backward: 1.3 GB each for a Show-o micro-batch of 4 x 10 steps), which a
//               learner training on candidate2 or full never reads.
StepLogProbs ComputeStepLogProbs(const at::Tensor& logp, const at::Tensor& tokens, const at::Tensor& revealed,
                                 const at::Tensor& remaining, const at::Tensor& min_prob,
                                 const at::Tensor& edge_width = {}, bool with_candidate1 = true);

// The width of candidate1's soft edge at step t of T.
//   kFixed: kCandidate1ThresholdSoftness, a numerical softening of the paper's hard set.
//   kNoise: the width the sampler's own randomness gives the edge. A position stays masked when
//           its confidence log p + tau_t g (g Gumbel) ranks below the revealed ones'; with
//           independent Gumbel noise on both sides the chance that a token of probability p
//           ranks below c_t is sigmoid((log c_t - log p) / tau_t): the fixed edge's formula
//           with width tau_t (0.5-0.94 at the early steps of T = 16 with tau0 = 1) instead of
//           0.02. Floored at kCandidate1ThresholdSoftness for the last steps, where tau_t -> 0.
enum class Candidate1Edge { kFixed, kNoise };
StatusOr<Candidate1Edge> ParseCandidate1Edge(const std::string& name);
const char* Candidate1EdgeName(Candidate1Edge edge);
double Candidate1EdgeWidth(Candidate1Edge edge, double gumbel_tau0, int64_t steps, int64_t t);

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

// The prompt side of ImageLogProbs, encoded once (MaskedTransformer::EncodeText) and reused:
// a rollout's unmasking steps and a replayed sample's steps all share their prompt's keys
// and values, so only the image span is recomputed per step.
struct PromptContext {
  int64_t rows = 0;
  double guidance = 0.0;
  TextContext cond;    // [rows] conditional rows (guidance 0, or a detached twin)
  TextContext uncond;  // [rows] unconditional twins, encoded without autograd (detached twin)
  TextContext joint;   // [2 * rows] conditional rows, then their twins, for one forward
};

// Encodes `prompts` (and, with guidance, the [1, text_len] or [B, text_len] `uncond`) and
// repeats every row `repeat` times after encoding (row b -> rows b * repeat ...), which is how
// the replay lays out (sample x step) rows without re-encoding a prompt per step.
// detach_uncond as in ImageLogProbs.
PromptContext EncodePrompts(const MaskedTransformer& model, const PromptBatch& prompts, const PromptBatch& uncond,
                            double guidance, bool detach_uncond = false, int64_t repeat = 1);

// ImageLogProbs for states whose prompts were encoded by EncodePrompts; codes [context.rows, N].
at::Tensor ImageLogProbs(const MaskedTransformer& model, const PromptContext& context, const at::Tensor& codes,
                         double temperature = 1.0);

// Rebuilds the states of the selected steps of every trajectory and recomputes the step
// log-probabilities in one batched forward over (trajectories x steps). Result tensors are
// [B, steps.size()], differentiable when grad mode is on.
// `edge` and `gumbel_tau0` must be those the trajectories were sampled with (candidate1 only);
// `with_candidate1` as in ComputeStepLogProbs.
StatusOr<StepLogProbs> ReplayStepLogProbs(const MaskedTransformer& model, const PromptBatch& prompts,
                                          const PromptBatch& uncond, const TrajectoryBatch& traj,
                                          const std::vector<int64_t>& steps, double guidance,
                                          bool detach_uncond = false, Candidate1Edge edge = Candidate1Edge::kFixed,
                                          double gumbel_tau0 = 1.0, bool with_candidate1 = true);

// Re-masking draws for B images of N tokens, S per image, a pure function of `seed`: draw s
// of image b masks m positions chosen uniformly, m = clamp(round(N cos(pi u / 2)), 1, N) with
// u ~ U(0, 1) (the cosine masking schedule these models are trained with). [B, S, N] bool.
at::Tensor DrawRemasks(int64_t B, int64_t S, int64_t N, uint64_t seed);

// log p(x_i | x with `masks` applied) summed over the masked positions i of each draw: the
// re-masking likelihood of the final tokens, [B, S], differentiable when grad mode is on.
// tokens [B, N] (all >= 0), masks [B, S, N]. The old and the new policy must be scored on the
// same masks (the learner draws them once per update). `entropy`, when given, receives the
// mean policy entropy (nats) over each draw's masked positions, [B, S], without gradient.
StatusOr<at::Tensor> RemaskLogProbs(const MaskedTransformer& model, const PromptBatch& prompts,
                                    const PromptBatch& uncond, const at::Tensor& tokens, const at::Tensor& masks,
                                    double guidance, bool detach_uncond = false, at::Tensor* entropy = nullptr);

// The state before step t: tokens where reveal_step < t, -1 (masked) elsewhere.
at::Tensor StateBeforeStep(const TrajectoryBatch& traj, int64_t t);

}  // namespace maskgrpo
