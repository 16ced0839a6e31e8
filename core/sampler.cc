#include "core/sampler.h"

#include "core/torch_api.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numeric>
#include <string>
#include <vector>

#include "core/schedule.h"
#include "core/transition.h"

namespace maskgrpo {
namespace {

// A private copy of the device's default generator, seeded. LibTorch 1.13 (Debian 12's) hands
// out clone()s with a weak count of 0, so they are never freed: LeakSanitizer found one lost
// per Sample call (scripts/test_sanitized.sh). Later LibTorch sets the count to 1 itself; the
// missing reference is added only where it is missing.
at::Generator PrivateGenerator(const at::Device& device, uint64_t seed) {
  at::Generator gen = at::globalContext().defaultGenerator(device).clone();
  const auto& impl = gen.getIntrusivePtr();
  if (impl.weak_use_count() == 0) c10::raw::weak_intrusive_ptr::incref(impl.get());
  gen.set_current_seed(seed);
  return gen;
}

// The `full` transition's log-probs, replayed after sampling with a row per prompt and step.
// Slices of `slice_prompts` prompts bound the forward's rows (and activations): one replay of
// the whole batch would run B x T rows at once.
StatusOr<at::Tensor> ReplayFullLogProbs(const MaskedTransformer& model, const PromptBatch& prompts,
                                        const PromptBatch& uncond, const TrajectoryBatch& traj,
                                        const SampleOptions& options, int64_t slice_prompts) {
  std::vector<int64_t> all_steps(traj.steps);
  std::iota(all_steps.begin(), all_steps.end(), 0);
  std::vector<at::Tensor> parts;
  for (int64_t b = 0; b < traj.size(); b += slice_prompts) {
    const int64_t e = std::min(traj.size(), b + slice_prompts);
    ASSIGN_OR_RETURN(StepLogProbs replay,
                     ReplayStepLogProbs(model, prompts.Rows(b, e), uncond, traj.Rows(b, e), all_steps, options.guidance, false,
                                        options.candidate1_edge, options.gumbel_tau0));
    parts.push_back(replay.full);
  }
  return parts.size() == 1 ? parts.front() : torch::cat(parts, 0);
}

}  // namespace

Status CheckSampleSettings(const SampleOptions& o) {
  auto in_range = [](double v, double lo, double hi) { return std::isfinite(v) && v >= lo && v <= hi; };
  auto str = [](double v) {
    char buf[32];
    std::snprintf(buf, sizeof(buf), "%g", v);
    return std::string(buf);
  };
  if (o.steps < 1) return InvalidArgument("sampling.steps must be >= 1, got " + std::to_string(o.steps));
  if (!in_range(o.guidance, 0.0, 100.0)) {
    return InvalidArgument("sampling.guidance must be in [0, 100], got " + str(o.guidance));
  }
  if (!in_range(o.temperature, 0.01, 100.0)) {
    return InvalidArgument("sampling.temperature must be in [0.01, 100], got " + str(o.temperature));
  }
  if (!in_range(o.gumbel_tau0, 0.0, 100.0)) {
    return InvalidArgument("sampling.gumbel_tau0 must be in [0, 100], got " + str(o.gumbel_tau0));
  }
  if (o.max_forward_prompts < 0) {
    return InvalidArgument("sampling.max_forward_prompts must be >= 0 (0 = the device's default), got " +
                           std::to_string(o.max_forward_prompts));
  }
  return Status::Ok();
}

int64_t SampleForwardPrompts(const SampleOptions& options, const at::Device& device, int64_t batch) {
  const int64_t limit = options.max_forward_prompts > 0 ? options.max_forward_prompts
                        : device.is_cpu()                ? int64_t{64}
                                                         : batch;
  return std::max<int64_t>(1, std::min(limit, batch));
}

StatusOr<TrajectoryBatch> SampleTrajectories(const MaskedTransformer& model, const PromptBatch& prompts,
                                             const PromptBatch& uncond, const SampleOptions& options) {
  const auto& c = model.config();
  RETURN_IF_ERROR(CheckSampleSettings(options));
  if (options.steps > c.image_len) {
    return InvalidArgument("sampling.steps must not exceed the model's " + std::to_string(c.image_len) +
                           " image tokens, got " + std::to_string(options.steps));
  }
  if (prompts.text_ids.dim() != 2 || prompts.text_ids.size(1) != c.text_len) {
    return InvalidArgument("sampler: prompts must be [B, text_len=" + std::to_string(c.text_len) + "]");
  }
  try {
    torch::NoGradGuard no_grad;
    const int64_t B = prompts.size(), N = c.image_len, T = options.steps;
    auto dev = model.device();
    auto gen = PrivateGenerator(dev, options.seed);
    auto long_opts = torch::TensorOptions().dtype(torch::kLong).device(dev);
    auto codes = torch::full({B, N}, -1, long_opts);
    auto reveal_step = torch::full({B, N}, T, long_opts);
    auto min_prob = torch::zeros({B, T}, torch::TensorOptions().dtype(torch::kFloat).device(dev));
    auto logp_c1 = torch::zeros_like(min_prob), logp_c2 = torch::zeros_like(min_prob);
    const auto inf = std::numeric_limits<float>::infinity();
    int64_t masked_before = N;
    // The forward runs over slices of at most `chunk` prompts; everything random runs over
    // the whole batch, so the draws (and the images) are those of one wide forward.
    const int64_t chunk = SampleForwardPrompts(options, dev, B);
    std::vector<PromptBatch> slices;
    for (int64_t b = 0; b < B; b += chunk) {
      const int64_t e = std::min(B, b + chunk);
      slices.push_back(prompts.Rows(b, e));
    }
    // The prompts' keys and values do not change across steps: encoded once per rollout.
    std::vector<PromptContext> contexts;
    if (options.reuse_prompt_context) {
      for (const auto& slice : slices) contexts.push_back(EncodePrompts(model, slice, uncond, options.guidance));
    }
    auto image_log_probs = [&](const at::Tensor& states) {  // [B, N, K]
      std::vector<at::Tensor> parts;
      for (size_t i = 0; i < slices.size(); ++i) {
        const int64_t b = static_cast<int64_t>(i) * chunk;
        auto rows = states.slice(0, b, b + slices[i].size());
        parts.push_back(options.reuse_prompt_context
                            ? ImageLogProbs(model, contexts[i], rows, options.temperature)
                            : ImageLogProbs(model, slices[i], uncond, rows, options.guidance, options.temperature));
      }
      return parts.size() == 1 ? parts.front() : torch::cat(parts, 0);
    };
    for (int64_t t = 0; t < T; ++t) {
      if (options.on_step) options.on_step(t, codes);
      auto logp = image_log_probs(codes);
      const int64_t K = logp.size(-1);
      auto sampled = torch::multinomial(logp.exp().view({B * N, K}), 1, /*replacement=*/true, gen).view({B, N});
      auto logp_y = logp.gather(-1, sampled.unsqueeze(-1)).squeeze(-1);  // [B, N]
      auto masked = codes < 0;
      const int64_t keep_masked = MaskedAfterStep(N, T, t, masked_before);
      auto remaining = torch::zeros_like(masked);
      if (keep_masked > 0) {
        auto u = torch::rand({B, N}, gen, torch::TensorOptions().dtype(torch::kFloat).device(dev)).clamp(1e-20, 1.0 - 1e-7);
        auto gumbel = -torch::log(-torch::log(u));
        const double tau = GumbelTemperature(options.gumbel_tau0, T, t);
        auto confidence = torch::where(masked, logp_y + tau * gumbel, torch::full({}, inf, logp_y.options()));
        auto lowest = std::get<1>(torch::topk(confidence, keep_masked, -1, /*largest=*/false));
        remaining.scatter_(1, lowest, true);
      }
      auto revealed = masked & remaining.logical_not();
      codes = torch::where(revealed, sampled, codes);
      reveal_step.masked_fill_(revealed, t);
      auto p_y = logp_y.exp();
      auto c_t = torch::where(revealed, p_y, torch::full({}, inf, p_y.options())).amin(-1);
      // A step that reveals nothing (possible only when a single position is left before
      // the last step) has no action: c_t = 0 makes the candidate1 term empty, logp = 0.
      c_t = torch::where(revealed.any(-1), c_t, torch::zeros_like(c_t));
      const double width = Candidate1EdgeWidth(options.candidate1_edge, options.gumbel_tau0, T, t);
      auto step = ComputeStepLogProbs(logp, sampled, revealed, remaining, c_t,
                                      torch::full({B}, width, torch::TensorOptions().dtype(torch::kFloat).device(dev)));
      min_prob.select(1, t).copy_(c_t);
      logp_c1.select(1, t).copy_(step.candidate1);
      logp_c2.select(1, t).copy_(step.candidate2);
      masked_before = keep_masked;
    }
    TrajectoryBatch traj;
    traj.steps = T;
    traj.tokens = codes;
    traj.reveal_step = reveal_step;
    traj.min_revealed_prob = min_prob;
    traj.logp_candidate1 = logp_c1;
    traj.logp_candidate2 = logp_c2;
    if (options.record_full) {
      // T rows per prompt: chunk / T prompts per forward keep it as wide as a sampling step's.
      ASSIGN_OR_RETURN(traj.logp_full, ReplayFullLogProbs(model, prompts, uncond, traj, options,
                                                          std::max<int64_t>(1, chunk / T)));
    } else {
      traj.logp_full = torch::full_like(min_prob, std::numeric_limits<float>::quiet_NaN());
    }
    return traj;
  } catch (const c10::Error& e) {
    return Internal(std::string("sampling failed: ") + e.what_without_backtrace());
  }
}

}  // namespace maskgrpo
