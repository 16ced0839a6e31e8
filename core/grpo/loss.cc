#include "core/grpo/loss.h"

#include "core/torch_api.h"

namespace maskgrpo::grpo {

StatusOr<StepReduce> ParseStepReduce(const std::string& name) {
  if (name == "sum") return StepReduce::kSum;
  if (name == "mean") return StepReduce::kMean;
  return InvalidArgument("step_reduce must be sum or mean, got '" + name + "'");
}

const char* StepReduceName(StepReduce r) { return r == StepReduce::kSum ? "sum" : "mean"; }

StatusOr<StepWeight> ParseStepWeight(const std::string& name) {
  if (name == "equal") return StepWeight::kEqual;
  if (name == "tokens") return StepWeight::kTokens;
  return InvalidArgument("step_weight must be equal or tokens, got '" + name + "'");
}

const char* StepWeightName(StepWeight w) { return w == StepWeight::kEqual ? "equal" : "tokens"; }

double PartWeight(const at::Tensor& part_counts, const at::Tensor& all_counts, StepWeight weight) {
  if (weight == StepWeight::kEqual) {
    return static_cast<double>(part_counts.size(0)) / static_cast<double>(all_counts.size(0));
  }
  const double all = all_counts.sum().item<double>();
  // No tokens at all (cannot happen with the shipped schedules): fall back to the rows' share.
  if (!(all > 0)) return PartWeight(part_counts, all_counts, StepWeight::kEqual);
  return part_counts.sum().item<double>() / all;
}

namespace {

// k3 estimator of KL(p || q) from log q - log p, sampled under p: exp(d) - d - 1 >= 0.
torch::Tensor K3(const torch::Tensor& log_q_minus_log_p) {
  return torch::exp(log_q_minus_log_p) - log_q_minus_log_p - 1.0;
}

}  // namespace

GrpoLossResult GrpoLoss(const at::Tensor& new_logp, const at::Tensor& old_logp, const at::Tensor& advantages,
                        const at::Tensor& token_counts, const at::Tensor& ref_logp, const GrpoLossOptions& o) {
  auto scale = [&](const torch::Tensor& lp) {
    if (o.reduce == StepReduce::kSum) return lp;
    return lp / token_counts.to(lp.scalar_type()).clamp_min(1.0);
  };
  auto lp_new = scale(new_logp);
  auto lp_old = scale(old_logp.to(new_logp.scalar_type()));
  auto adv = advantages.to(new_logp.scalar_type()).unsqueeze(1);  // [B, 1] -> every step
  auto log_ratio = lp_new - lp_old;
  auto ratio = torch::exp(log_ratio);
  auto clipped = torch::clamp(ratio, 1.0 - o.clip_low, 1.0 + o.clip_high);
  // The average over (sample, step) terms: equal weights, or each step's token count.
  auto average = [&](const torch::Tensor& terms) {
    if (o.weight == StepWeight::kEqual) return terms.mean();
    auto w = token_counts.to(terms.scalar_type());
    return (terms * w).sum() / w.sum().clamp_min(1.0);
  };
  auto policy = -average(torch::min(ratio * adv, clipped * adv));
  GrpoLossResult r;
  r.loss = policy;
  if (o.kl_beta > 0) {
    auto lp_ref = scale(ref_logp.to(new_logp.scalar_type()));
    auto kl = average(K3(lp_ref - lp_new));
    r.loss = policy + o.kl_beta * kl;
    r.kl = kl.item<double>();
  }
  torch::NoGradGuard no_grad;
  r.policy_loss = policy.item<double>();
  auto adv_b = adv.expand_as(ratio);
  auto active = ((ratio > 1.0 + o.clip_high) & (adv_b > 0)) | ((ratio < 1.0 - o.clip_low) & (adv_b < 0));
  r.clip_fraction = active.to(torch::kDouble).mean().item<double>();
  r.approx_kl = K3(log_ratio).mean().item<double>();
  r.ratio_mean = ratio.mean().item<double>();
  return r;
}

}  // namespace maskgrpo::grpo
