// Computational reduction (mask-grpo.md section 5): the rollout runs all T steps but the
// loss uses a subset of them. (Unmasking reduction is simply a smaller T for rollouts than
// for evaluation, set in the sampling options.)
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"
#include "core/trajectory.h"
#include "core/transition.h"

namespace maskgrpo::grpo {

enum class StepSubset { kAll, kFirst, kLast, kRandom };
StatusOr<StepSubset> ParseStepSubset(const std::string& name);
const char* StepSubsetName(StepSubset s);

struct ReductionOptions {
  StepSubset subset = StepSubset::kAll;
  int64_t num_steps = 0;  // k for first/last/random; ignored for all
};

// The steps the loss uses, ascending. Random draws k distinct steps from `seed`.
StatusOr<std::vector<int64_t>> SelectSteps(int64_t total_steps, const ReductionOptions& options, uint64_t seed);

// Tokens in each selected step's log-probability sum, [B, S] float32: |U_t| for
// candidate2, |U_t| + |R_t| (every position still masked before the step) otherwise.
at::Tensor StepTokenCounts(const TrajectoryBatch& traj, const std::vector<int64_t>& steps, Transition transition);

}  // namespace maskgrpo::grpo
