// The clipped GRPO objective of mask-grpo.md section 4, on step log-probabilities that the
// caller has already computed (ReplayStepLogProbs for the current and reference policies,
// the trajectory's recorded values for the behaviour policy).
#pragma once

#include <ATen/core/Tensor.h>

#include <string>

#include "core/status.h"

namespace maskgrpo::grpo {

// How a step's token log-probabilities combine: their sum (the paper) or their mean over
// the step's tokens (late steps reveal many more tokens than early ones).
enum class StepReduce { kSum, kMean };
StatusOr<StepReduce> ParseStepReduce(const std::string& name);
const char* StepReduceName(StepReduce r);

struct GrpoLossOptions {
  double clip_low = 0.1;   // ratio floor 1 - clip_low
  double clip_high = 0.2;  // ratio ceiling 1 + clip_high
  StepReduce reduce = StepReduce::kSum;
  double kl_beta = 0.0;    // weight of the k3 KL to the reference policy; 0 = off
};

struct GrpoLossResult {
  at::Tensor loss;            // scalar, differentiable: policy term + kl_beta * kl
  double policy_loss = 0;     // -mean min(ratio A, clip(ratio) A)
  double kl = 0;              // mean k3 estimate against the reference (0 when off)
  double clip_fraction = 0;   // share of (sample, step) terms where the clip is active
  double approx_kl = 0;       // mean k3 estimate of KL(behaviour || current)
  double ratio_mean = 0;
};

// new_logp:     [B, S] current policy's step log-probabilities (with grad)
// old_logp:     [B, S] behaviour policy's, recorded at rollout time
// advantages:   [B]
// token_counts: [B, S] tokens in each step's sum (used by kMean; clamped to >= 1)
// ref_logp:     [B, S] reference policy's, or an undefined tensor when kl_beta == 0
GrpoLossResult GrpoLoss(const at::Tensor& new_logp, const at::Tensor& old_logp, const at::Tensor& advantages,
                        const at::Tensor& token_counts, const at::Tensor& ref_logp, const GrpoLossOptions& options);

}  // namespace maskgrpo::grpo
