#include "core/grpo/reduction.h"

#include "core/torch_api.h"

#include <algorithm>
#include <numeric>
#include <random>

namespace maskgrpo::grpo {

StatusOr<StepSubset> ParseStepSubset(const std::string& name) {
  if (name == "all") return StepSubset::kAll;
  if (name == "first") return StepSubset::kFirst;
  if (name == "last") return StepSubset::kLast;
  if (name == "random") return StepSubset::kRandom;
  return InvalidArgument("step subset must be all, first, last or random, got '" + name + "'");
}

const char* StepSubsetName(StepSubset s) {
  switch (s) {
    case StepSubset::kAll: return "all";
    case StepSubset::kFirst: return "first";
    case StepSubset::kLast: return "last";
    case StepSubset::kRandom: return "random";
  }
  return "?";
}

StatusOr<std::vector<int64_t>> SelectSteps(int64_t total_steps, const ReductionOptions& o, uint64_t seed) {
  if (total_steps < 1) return InvalidArgument("reduction: total steps must be >= 1");
  std::vector<int64_t> all(total_steps);
  std::iota(all.begin(), all.end(), 0);
  if (o.subset == StepSubset::kAll) return all;
  if (o.num_steps < 1 || o.num_steps > total_steps) {
    return InvalidArgument("reduction: num_steps must be in [1, " + std::to_string(total_steps) + "], got " +
                           std::to_string(o.num_steps));
  }
  const auto k = static_cast<size_t>(o.num_steps);
  switch (o.subset) {
    case StepSubset::kFirst: return std::vector<int64_t>(all.begin(), all.begin() + k);
    case StepSubset::kLast: return std::vector<int64_t>(all.end() - k, all.end());
    default: break;
  }
  std::mt19937_64 rng(seed);
  std::shuffle(all.begin(), all.end(), rng);
  all.resize(k);
  std::sort(all.begin(), all.end());
  return all;
}

at::Tensor StepTokenCounts(const TrajectoryBatch& traj, const std::vector<int64_t>& steps, Transition transition) {
  auto t = torch::tensor(steps, torch::kLong).to(traj.reveal_step.device()).view({1, -1, 1});  // [1, S, 1]
  auto reveal = traj.reveal_step.unsqueeze(1);                                                   // [B, 1, N]
  auto in_step = transition == Transition::kCandidate2 ? reveal == t : reveal >= t;
  return in_step.sum(-1).to(torch::kFloat);
}

}  // namespace maskgrpo::grpo
