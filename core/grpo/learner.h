// The learner's core: GRPO updates on scored groups of compact trajectories. It owns the
// policy, the frozen reference (for the optional KL) and the optimiser, and knows nothing
// of where groups come from: the in-process trainer and the distributed learner service
// both feed it.
#pragma once

#include <ATen/core/Generator.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/grpo/advantages.h"
#include "core/grpo/loss.h"
#include "core/grpo/reduction.h"
#include "core/optim.h"
#include "core/status.h"
#include "core/trajectory.h"
#include "core/transformer.h"
#include "core/transition.h"

namespace maskgrpo::grpo {

struct LearnerOptions {
  Transition transition = Transition::kCandidate1;
  GrpoLossOptions loss;
  AdvantageOptions advantages;
  ReductionOptions reduction;
  // The CFG weight the rollouts were sampled with: the policy being optimised is the guided
  // distribution, so the replay must use the same weight.
  double guidance = 0.0;
  // candidate1's soft edge and the rollouts' Gumbel tau0 (for the `noise` edge): the replay
  // must use what the rollouts recorded with.
  Candidate1Edge candidate1_edge = Candidate1Edge::kFixed;
  double gumbel_tau0 = 1.0;
  // With CFG, the guided logits are (1 + w) cond - w uncond, so the plain gradient also pushes
  // the shared unconditional prediction, against the advantage, for every prompt. True stops
  // it there (the ratio and the loss value are unchanged; only the gradient path differs).
  bool detach_unconditional = false;
  int64_t inner_epochs = 1;   // passes over each update's groups
  int64_t minibatches = 1;    // optimiser steps per pass
  // Deal whole groups into minibatches (each minibatch's advantages then sum to zero, so no
  // single sample decides a step's direction) instead of a permutation of all samples.
  bool group_minibatches = false;
  // Samples per replay forward (gradients accumulate over chunks, so the result is the
  // same): one forward holds samples x steps x 2 (CFG) sequences, and on a CPU very large
  // batches run at half the speed per row of ~256-row ones.
  int64_t micro_batch = 8;
  AdamWSettings adamw{1e-4, 0.9, 0.95, 0.02};
  double min_lr_ratio = 0.1;
  int64_t warmup_updates = 5;
  int64_t total_updates = 100;  // length of the cosine schedule
  double max_grad_norm = 1.0;   // 0 = no clipping
  uint64_t seed = 1;            // minibatch order and random step subsets
  // Parameters to keep fixed: ECMAScript regular expressions searched in each parameter's
  // name (e.g. "^model[.]embed_tokens[.]"). A frozen parameter gets no gradient, no optimiser
  // state and no weight decay, and never travels in a weights stream after a worker's first.
  // Each pattern must match a parameter, and at least one parameter must stay trainable.
  std::vector<std::string> frozen_parameters;
  // An exponential moving average of the policy's weights, for evaluation and as a second
  // final model (0 = off; in [0, 1)): after every update ema = ema_decay * ema +
  // (1 - ema_decay) * policy, starting from the initial weights, so it averages about the last
  // 1 / (1 - ema_decay) updates. Sampling and training always use the policy itself. Kept in
  // float32 (float64 for a float64 policy) so that small steps do not round away under
  // bfloat16; it costs one more copy of the weights in that dtype.
  double ema_decay = 0.0;
};
Status ValidateLearnerOptions(const LearnerOptions& o);

// The model's parameters that `patterns` (LearnerOptions::frozen_parameters) freeze, in
// model order; an error names a pattern that is invalid or matches nothing, or says that
// every parameter would be frozen.
StatusOr<std::vector<std::string>> FrozenParameterNames(const MaskedTransformer& model,
                                                        const std::vector<std::string>& patterns);

// The rows of each minibatch of one pass over an update's `samples` rows (groups of
// `group_size` consecutive rows): a random permutation of the samples dealt into
// `minibatches` near-equal parts, or with `whole_groups` a permutation of the groups, so
// that every minibatch holds whole groups (at most one minibatch per group).
std::vector<std::vector<int64_t>> DealMinibatches(int64_t samples, int64_t group_size, int64_t minibatches,
                                                  bool whole_groups, at::Generator& gen);

// One prompt's group: G trajectories sampled by the policy at `policy_version`, scored.
struct ScoredGroup {
  std::string prompt_text;
  PromptBatch prompt;             // [1, text_len]
  TrajectoryBatch trajectories;   // G rows
  std::vector<double> rewards;    // G finite rewards
  int64_t policy_version = 0;
};

// The checks of GrpoLearner::ValidateGroup against a model shape, usable without the model
// (the distributed learner checks submissions on RPC threads): shapes, token and step
// ranges, finite rewards and behaviour log-probs, policy_version in [0, max_version].
Status ValidateScoredGroup(const ModelConfig& config, Transition transition, int64_t max_version,
                           const ScoredGroup& group);

struct UpdateStats {
  int64_t version = 0;  // the version the update produced
  int64_t groups = 0, samples = 0, optimizer_steps = 0;
  double loss = 0, policy_loss = 0, kl = 0, clip_fraction = 0, approx_kl = 0, ratio_mean = 0;
  double grad_norm = 0, learning_rate = 0;
  double entropy = 0;  // mean per-token entropy (nats) of the policy where the replayed steps reveal
  double reward_mean = 0, reward_std = 0;  // over the update's samples
  double seconds = 0;
};

class GrpoLearner {
 public:
  // `reference` may be null when options.loss.kl_beta == 0. `uncond` is the empty prompt
  // ([1, text_len]) for the CFG twin. `version` is the policy's version (0 for a new run).
  static StatusOr<std::unique_ptr<GrpoLearner>> Create(std::unique_ptr<MaskedTransformer> policy,
                                                       std::unique_ptr<MaskedTransformer> reference, PromptBatch uncond,
                                                       const LearnerOptions& options);
  ~GrpoLearner();

  // Checks a group against the model (shapes, token and step ranges, finite rewards and
  // behaviour log-probs); the error names the offending field.
  Status ValidateGroup(const ScoredGroup& group) const;

  // One update on these groups (all of the same group size); increments the version.
  // On error nothing has changed.
  StatusOr<UpdateStats> Update(const std::vector<ScoredGroup>& groups);

  int64_t version() const { return version_; }
  // The names of the frozen parameters (LearnerOptions::frozen_parameters), in model order.
  const std::vector<std::string>& frozen_names() const { return frozen_names_; }
  const MaskedTransformer& policy() const { return *policy_; }
  // The moving average of the policy's weights (LearnerOptions::ema_decay), or null when off.
  const MaskedTransformer* ema() const { return ema_.get(); }
  const LearnerOptions& options() const { return options_; }

  // model.safetensors, optimizer.pt and learner.json (version) in `dir`, and ema.safetensors
  // when the learner keeps a moving average.
  Status SaveCheckpoint(const std::string& dir) const;
  // Restores them; on error the learner is unchanged. A learner with a moving average needs
  // the checkpoint's ema.safetensors; one without ignores it.
  Status LoadCheckpoint(const std::string& dir);

 private:
  GrpoLearner() = default;
  void FoldPolicyIntoEma();
  std::unique_ptr<MaskedTransformer> policy_, reference_, ema_;
  PromptBatch uncond_;
  LearnerOptions options_;
  std::unique_ptr<torch::optim::AdamW> optimizer_;
  std::vector<std::string> frozen_names_;
  int64_t version_ = 0;
};

}  // namespace maskgrpo::grpo
