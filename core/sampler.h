// The masked sampler (mask-grpo.md section 2): iterative unmasking with the cosine
// schedule, Show-o's compounding Gumbel temperature and the last-step rule. A whole batch
// of groups (and its CFG twin) goes through one forward per step.
#pragma once

#include <cstdint>
#include <functional>

#include "core/status.h"
#include "core/trajectory.h"
#include "core/transformer.h"
#include "core/transition.h"

namespace maskgrpo {

struct SampleOptions {
  int64_t steps = 16;
  double guidance = 0.0;     // CFG weight w; 0 in training
  double temperature = 1.0;  // softmax temperature for the token draw
  double gumbel_tau0 = 1.0;  // initial confidence-noise temperature (tau_{-1})
  uint64_t seed = 0;
  // Also record the behaviour log-probability under `full` (needs the final tokens, so it
  // costs one extra replay pass at the end).
  bool record_full = true;
  // The soft edge of the candidate1 log-probability recorded per step (transition.h); the
  // learner must replay with the same.
  Candidate1Edge candidate1_edge = Candidate1Edge::kFixed;
  // Encode the prompts once per rollout (their keys and values do not change across steps).
  // false re-encodes them at every step: the same values up to float reassociation, kept
  // for the benchmark's comparison.
  bool reuse_prompt_context = true;
  // Prompt rows per transformer forward (the CFG twin doubles them); the unmasking draws
  // still run over the whole batch, so the images do not depend on this. 0 = the device's
  // default (SampleForwardPrompts). On a CPU a forward wider than the caches loses per image
  // (bench --sweep); on a GPU a wider forward is what fills the device.
  int64_t max_forward_prompts = 0;
  // Optional observer: called with each step index and the codes before that step
  // ([B, N], -1 = masked). For tests and debugging; costs nothing when unset.
  std::function<void(int64_t step, const at::Tensor& codes_before)> on_step;
};

// The settings the sampler accepts, whoever supplies them (a config's `sampling`, a lease
// reply from the learner): steps >= 1; guidance (CFG weight) in [0, 100]; temperature in
// [0.01, 100]; gumbel_tau0 in [0, 100]; all finite. The bounds are far outside any useful
// setting (Show-o uses CFG <= 10) and keep float32 logits finite: a CFG weight or inverse
// temperature of 1e30 turns them into inf and the draw into NaN. Errors name the field as
// `sampling.<name>`. Whether steps fit the model's image tokens is checked where the model is
// known (SampleTrajectories).
Status CheckSampleSettings(const SampleOptions& options);

// The prompt rows per forward the sampler uses for `batch` prompts on `device`:
// options.max_forward_prompts when set, otherwise 64 on a CPU and the whole batch elsewhere.
// On a CPU the slices bound the forward's memory; their speed gain at batch 256 (+4 % over
// one forward, timed column after column) vanished when bench --sweep timed the two in
// alternation (README "Measured figures").
// The replay that records the `full` transition (record_full) runs T rows per prompt, so it
// takes this many / T prompts (at least one) per forward.
int64_t SampleForwardPrompts(const SampleOptions& options, const at::Device& device, int64_t batch);

// Samples one trajectory per prompt row (repeat a prompt G times for a group). `uncond` is
// the empty prompt, [1, text_len]. Deterministic for a given seed, device and batch.
StatusOr<TrajectoryBatch> SampleTrajectories(const MaskedTransformer& model, const PromptBatch& prompts,
                                             const PromptBatch& uncond, const SampleOptions& options);

}  // namespace maskgrpo
