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

// How the (sample, step) terms of the objective are averaged: equally (the paper: a mean over
// samples and steps), or each weighted by its step's token count, so that every revealed
// token weighs the same. With the cosine schedule, early steps reveal few tokens (mostly
// background) and late ones many (the objects); equal weights give an early token several
// times a late token's weight. The step's ratio and its clip are unchanged (a step-level
// ratio of the step's reduced log-probability), only the average differs.
enum class StepWeight { kEqual, kTokens };
StatusOr<StepWeight> ParseStepWeight(const std::string& name);
const char* StepWeightName(StepWeight w);

struct GrpoLossOptions {
  double clip_low = 0.1;   // ratio floor 1 - clip_low
  double clip_high = 0.2;  // ratio ceiling 1 + clip_high
  StepReduce reduce = StepReduce::kSum;
  StepWeight weight = StepWeight::kEqual;
  double kl_beta = 0.0;    // weight of the k3 KL to the reference policy; 0 = off
};

struct GrpoLossResult {
  at::Tensor loss;            // scalar, differentiable: policy term + kl_beta * kl
  double policy_loss = 0;     // -mean min(ratio A, clip(ratio) A) (token-weighted with kTokens)
  double kl = 0;              // mean k3 estimate against the reference (0 when off; weighted as the policy term)
  double clip_fraction = 0;   // share of (sample, step) terms where the clip is active
  double approx_kl = 0;       // mean k3 estimate of KL(behaviour || current)
  double ratio_mean = 0;
};

// new_logp:     [B, S] current policy's step log-probabilities (with grad)
// old_logp:     [B, S] behaviour policy's, recorded at rollout time
// advantages:   [B]
// token_counts: [B, S] tokens in each step's sum (used by kMean and kTokens; clamped to >= 1
//               by kMean). With kTokens the terms are averaged with these weights over the
//               given rows: a caller that splits a minibatch into parts weighs each part by
//               its share of the minibatch's tokens (TokenWeightShare), not of its rows.
// ref_logp:     [B, S] reference policy's, or an undefined tensor when kl_beta == 0
GrpoLossResult GrpoLoss(const at::Tensor& new_logp, const at::Tensor& old_logp, const at::Tensor& advantages,
                        const at::Tensor& token_counts, const at::Tensor& ref_logp, const GrpoLossOptions& options);

// The weight of a part (rows of a minibatch) in the minibatch's loss, so that the parts' GrpoLoss
// values, so weighted, sum to the minibatch's: its share of the rows (kEqual) or of the
// tokens (kTokens). part_counts and all_counts are [rows, S] token counts.
double PartWeight(const at::Tensor& part_counts, const at::Tensor& all_counts, StepWeight weight);

}  // namespace maskgrpo::grpo
