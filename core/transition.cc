#include "core/transition.h"

#include <torch/torch.h>

namespace maskgrpo {

StatusOr<Transition> ParseTransition(const std::string& name) {
  if (name == "candidate1") return Transition::kCandidate1;
  if (name == "candidate2") return Transition::kCandidate2;
  if (name == "full") return Transition::kFull;
  return InvalidArgument("transition must be candidate1, candidate2 or full, got '" + name + "'");
}

const char* TransitionName(Transition t) {
  switch (t) {
    case Transition::kCandidate1: return "candidate1";
    case Transition::kCandidate2: return "candidate2";
    case Transition::kFull: return "full";
  }
  return "?";
}

const at::Tensor& StepLogProbs::Get(Transition t) const {
  switch (t) {
    case Transition::kCandidate1: return candidate1;
    case Transition::kCandidate2: return candidate2;
    case Transition::kFull: return full;
  }
  return candidate1;
}

StepLogProbs ComputeStepLogProbs(const at::Tensor& logp, const at::Tensor& tokens, const at::Tensor& revealed,
                                 const at::Tensor& remaining, const at::Tensor& min_prob) {
  auto tok = tokens.clamp_min(0).unsqueeze(-1);
  auto logp_tok = logp.gather(-1, tok).squeeze(-1);  // [R, N]
  auto zero = torch::zeros({}, logp.options());
  auto revealed_sum = torch::where(revealed, logp_tok, zero).sum(-1);
  auto predicted = revealed | remaining;
  StepLogProbs out;
  out.candidate2 = revealed_sum;
  out.full = torch::where(predicted, logp_tok, zero).sum(-1);
  // Probability that a still-masked position would have drawn something less confident
  // than the least confident revealed token. c_t is data (a float), never a bool.
  // Membership {k : p_i(k) < c_t} is softened into a sigmoid weight on log(c_t / p_i(k)) with
  // a width of kCandidate1ThresholdSoftness nats: the hard set makes the log-probability jump when float
  // noise (a different batch shape in the replay) moves a token across c_t, which shows up as
  // ratios of e^100 on-policy. Tokens further than ~5 widths from c_t count exactly as in the
  // hard definition.
  auto log_c = torch::log(min_prob.to(logp.scalar_type()).clamp_min(1e-30)).view({-1, 1, 1});
  auto weight = torch::log_sigmoid((log_c - logp) / kCandidate1ThresholdSoftness);
  auto lse = torch::logsumexp(logp + weight, -1);  // [R, N]
  out.candidate1 = revealed_sum + torch::where(remaining, lse, zero).sum(-1);
  {
    torch::NoGradGuard no_grad;
    auto position_entropy = -(logp.exp() * logp).sum(-1);  // [R, N]
    out.entropy = torch::where(revealed, position_entropy, zero).sum(-1) / revealed.sum(-1).clamp_min(1);
  }
  return out;
}

at::Tensor GuidedLogits(const at::Tensor& cond, const at::Tensor& uncond, double w) {
  return (1.0 + w) * cond - w * uncond;
}

namespace {

torch::Tensor BuildInputIds(const ModelConfig& c, const torch::Tensor& text_ids, const torch::Tensor& codes) {
  const int64_t B = codes.size(0);
  auto opts = codes.options();
  auto image = torch::where(codes < 0, torch::full({}, c.mask_id, opts), codes + c.image_token_offset);
  auto soi = torch::full({B, 1}, c.soi_id, opts);
  auto eoi = torch::full({B, 1}, c.eoi_id, opts);
  return torch::cat({text_ids, soi, image, eoi}, 1);
}

}  // namespace

at::Tensor ImageLogProbs(const MaskedTransformer& model, const PromptBatch& prompts, const PromptBatch& uncond,
                         const at::Tensor& codes, double guidance, double temperature, bool detach_uncond) {
  const auto& c = model.config();
  const int64_t B = codes.size(0);
  auto dev = model.device();
  auto codes_d = codes.to(dev);
  auto text = prompts.text_ids.to(dev), valid = prompts.text_valid.to(dev);
  torch::Tensor logits;
  if (guidance == 0.0) {
    logits = model.ImageLogits(BuildInputIds(c, text, codes_d), valid);
  } else {
    auto u_text = uncond.text_ids.to(dev).expand({B, c.text_len});
    auto u_valid = uncond.text_valid.to(dev).expand({B, c.text_len});
    if (detach_uncond && torch::GradMode::is_enabled()) {
      // Two forwards: the twin without autograd also saves its half of the backward.
      auto cond = model.ImageLogits(BuildInputIds(c, text, codes_d), valid);
      torch::Tensor un;
      {
        torch::NoGradGuard no_grad;
        un = model.ImageLogits(BuildInputIds(c, u_text, codes_d), u_valid);
      }
      logits = GuidedLogits(cond, un, guidance);  // differentiable through cond only
    } else {
      // The conditional batch and its unconditional twin in one forward.
      auto ids = BuildInputIds(c, torch::cat({text, u_text}, 0), torch::cat({codes_d, codes_d}, 0));
      auto both = model.ImageLogits(ids, torch::cat({valid, u_valid}, 0));
      logits = GuidedLogits(both.slice(0, 0, B), both.slice(0, B), guidance);
    }
  }
  if (temperature != 1.0) logits = logits / temperature;
  return torch::log_softmax(logits, -1);
}

at::Tensor StateBeforeStep(const TrajectoryBatch& traj, int64_t t) {
  return torch::where(traj.reveal_step < t, traj.tokens, torch::full({}, -1, traj.tokens.options()));
}

StatusOr<StepLogProbs> ReplayStepLogProbs(const MaskedTransformer& model, const PromptBatch& prompts,
                                          const PromptBatch& uncond, const TrajectoryBatch& traj,
                                          const std::vector<int64_t>& steps, double guidance,
                                          bool detach_uncond) {
  const int64_t B = traj.size(), S = static_cast<int64_t>(steps.size());
  if (prompts.size() != B) return InvalidArgument("replay: prompts and trajectories differ in batch size");
  if (S == 0) return InvalidArgument("replay: no steps selected");
  for (int64_t t : steps) {
    if (t < 0 || t >= traj.steps) return InvalidArgument("replay: step " + std::to_string(t) + " out of range");
  }
  try {
    auto dev = model.device();
    auto tokens = traj.tokens.to(dev), reveal = traj.reveal_step.to(dev);
    auto step_t = torch::tensor(steps, torch::TensorOptions().dtype(torch::kLong).device(dev));  // [S]
    // Row r = b * S + s.
    auto tok_rep = tokens.repeat_interleave(S, 0);
    auto rev_rep = reveal.repeat_interleave(S, 0);
    auto t_rep = step_t.repeat({B}).unsqueeze(1);  // [B*S, 1]
    auto state = torch::where(rev_rep < t_rep, tok_rep, torch::full({}, -1, tok_rep.options()));
    PromptBatch rep{prompts.text_ids.to(dev).repeat_interleave(S, 0), prompts.text_valid.to(dev).repeat_interleave(S, 0)};
    auto logp = ImageLogProbs(model, rep, uncond, state, guidance, 1.0, detach_uncond);
    auto revealed = rev_rep == t_rep;
    auto remaining = rev_rep > t_rep;
    auto c = traj.min_revealed_prob.to(dev).index_select(1, step_t).reshape({B * S});
    auto out = ComputeStepLogProbs(logp, tok_rep, revealed, remaining, c);
    out.candidate1 = out.candidate1.view({B, S});
    out.candidate2 = out.candidate2.view({B, S});
    out.full = out.full.view({B, S});
    out.entropy = out.entropy.view({B, S});
    return out;
  } catch (const c10::Error& e) {
    return Internal(std::string("replay failed: ") + e.what_without_backtrace());
  }
}

}  // namespace maskgrpo
