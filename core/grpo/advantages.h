// Group-relative advantages (mask-grpo.md section 4): A_j = (r_j - mean) / (std + eps),
// std unbiased, the same A_j at every step of sample j.
#pragma once

#include <cstdint>
#include <vector>

#include "core/status.h"

namespace maskgrpo::grpo {

struct AdvantageOptions {
  double eps = 1e-4;
  // false: each group's own std (GRPO). true: the std of every reward in the batch, which
  // keeps a near-constant group's tiny differences from being blown up to +-1.
  bool batch_std = false;
  // Multiplies negative advantages; 1 is GRPO. Below 1, failures push their tokens down less
  // than successes pull theirs up (an option for probing; see docs/ablation.md).
  double negative_scale = 1.0;
};

// Mean and unbiased standard deviation; a single value has std 0.
double Mean(const std::vector<double>& v);
double UnbiasedStd(const std::vector<double>& v);

// rewards: groups of `group_size` consecutive samples. Every reward must be finite and
// group_size >= 2 must divide the count.
StatusOr<std::vector<double>> GroupAdvantages(const std::vector<double>& rewards, int64_t group_size,
                                              const AdvantageOptions& options);

}  // namespace maskgrpo::grpo
