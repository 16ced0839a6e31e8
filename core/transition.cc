#include "core/transition.h"

#include "core/torch_api.h"

#include <algorithm>
#include <cmath>

#include "core/schedule.h"

namespace maskgrpo {

StatusOr<Transition> ParseTransition(const std::string& name) {
  if (name == "candidate1") return Transition::kCandidate1;
  if (name == "candidate2") return Transition::kCandidate2;
  if (name == "full") return Transition::kFull;
  if (name == "remask") return Transition::kRemask;
  return InvalidArgument("transition must be candidate1, candidate2, full or remask, got '" + name + "'");
}

const char* TransitionName(Transition t) {
  switch (t) {
    case Transition::kCandidate1: return "candidate1";
    case Transition::kCandidate2: return "candidate2";
    case Transition::kFull: return "full";
    case Transition::kRemask: return "remask";
  }
  return "?";
}

const at::Tensor& StepLogProbs::Get(Transition t) const {
  const at::Tensor* out = nullptr;
  switch (t) {
    case Transition::kCandidate1: out = &candidate1; break;
    case Transition::kCandidate2: out = &candidate2; break;
    case Transition::kFull: out = &full; break;
    case Transition::kRemask: break;  // not a step quantity: RemaskLogProbs
  }
  TORCH_CHECK(out != nullptr && out->defined(), "StepLogProbs: the ", TransitionName(t),
              " log-probabilities were not computed");
  return *out;
}

StatusOr<Candidate1Edge> ParseCandidate1Edge(const std::string& name) {
  if (name == "fixed") return Candidate1Edge::kFixed;
  if (name == "noise") return Candidate1Edge::kNoise;
  return InvalidArgument("candidate1_edge must be fixed or noise, got '" + name + "'");
}

const char* Candidate1EdgeName(Candidate1Edge edge) { return edge == Candidate1Edge::kNoise ? "noise" : "fixed"; }

double Candidate1EdgeWidth(Candidate1Edge edge, double gumbel_tau0, int64_t steps, int64_t t) {
  if (edge == Candidate1Edge::kFixed) return kCandidate1ThresholdSoftness;
  return std::max(GumbelTemperature(gumbel_tau0, steps, t), kCandidate1ThresholdSoftness);
}

StepLogProbs ComputeStepLogProbs(const at::Tensor& logp, const at::Tensor& tokens, const at::Tensor& revealed,
                                 const at::Tensor& remaining, const at::Tensor& min_prob, const at::Tensor& edge_width,
                                 bool with_candidate1) {
  auto tok = tokens.clamp_min(0).unsqueeze(-1);
  auto logp_tok = logp.gather(-1, tok).squeeze(-1);  // [R, N]
  auto zero = torch::zeros({}, logp.options());
  auto revealed_sum = torch::where(revealed, logp_tok, zero).sum(-1);
  auto predicted = revealed | remaining;
  StepLogProbs out;
  out.candidate2 = revealed_sum;
  out.full = torch::where(predicted, logp_tok, zero).sum(-1);
  if (with_candidate1) {
    // Probability that a still-masked position would have drawn something less confident
    // than the least confident revealed token. c_t is data (a float), never a bool.
    // Membership {k : p_i(k) < c_t} is softened into a sigmoid weight on log(c_t / p_i(k)) with
    // a width of kCandidate1ThresholdSoftness nats: the hard set makes the log-probability jump when float
    // noise (a different batch shape in the replay) moves a token across c_t, which shows up as
    // ratios of e^100 on-policy. Tokens further than ~5 widths from c_t count exactly as in the
    // hard definition.
    auto log_c = torch::log(min_prob.to(logp.scalar_type()).clamp_min(1e-30)).view({-1, 1, 1});
    auto width = edge_width.defined() ? edge_width.to(logp.scalar_type()).view({-1, 1, 1})
                                      : torch::full({1, 1, 1}, kCandidate1ThresholdSoftness, logp.options());
    auto weight = torch::log_sigmoid((log_c - logp) / width);
    auto lse = torch::logsumexp(logp + weight, -1);  // [R, N]
    out.candidate1 = revealed_sum + torch::where(remaining, lse, zero).sum(-1);
  }
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

// soi, the image tokens (mask_id where codes < 0), eoi: [B, image_len + 2].
torch::Tensor BuildSpanIds(const ModelConfig& c, const torch::Tensor& codes) {
  const int64_t B = codes.size(0);
  auto opts = codes.options();
  auto image = torch::where(codes < 0, torch::full({}, c.mask_id, opts), codes + c.image_token_offset);
  return torch::cat({torch::full({B, 1}, c.soi_id, opts), image, torch::full({B, 1}, c.eoi_id, opts)}, 1);
}

TextContext EncodeRows(const MaskedTransformer& model, const PromptBatch& p, int64_t rows, int64_t repeat) {
  auto dev = model.device();
  TextContext ctx = model.EncodeText(p.text_ids.to(dev), p.text_valid.to(dev));
  if (ctx.batch() == 1 && rows != 1) return ctx.ExpandRows(rows * repeat);
  return repeat == 1 ? ctx : ctx.RepeatRows(repeat);
}

}  // namespace

PromptContext EncodePrompts(const MaskedTransformer& model, const PromptBatch& prompts, const PromptBatch& uncond,
                            double guidance, bool detach_uncond, int64_t repeat) {
  const int64_t B = prompts.size();
  PromptContext out;
  out.rows = B * repeat;
  out.guidance = guidance;
  TextContext cond = EncodeRows(model, prompts, B, repeat);
  if (guidance == 0.0) {
    out.cond = std::move(cond);
  } else if (detach_uncond && torch::GradMode::is_enabled()) {
    // Encoded without autograd, so the twin's half of the backward is never built.
    torch::NoGradGuard no_grad;
    out.uncond = EncodeRows(model, uncond, B, repeat);
    out.cond = std::move(cond);
  } else {
    out.joint = cond.Concat(EncodeRows(model, uncond, B, repeat));
  }
  return out;
}

at::Tensor ImageLogProbs(const MaskedTransformer& model, const PromptContext& context, const at::Tensor& codes,
                         double temperature) {
  const int64_t B = codes.size(0);
  TORCH_CHECK(B == context.rows, "ImageLogProbs: ", B, " states for a prompt context of ", context.rows, " rows");
  auto span = BuildSpanIds(model.config(), codes.to(model.device()));
  torch::Tensor logits;
  if (context.guidance == 0.0) {
    logits = model.SpanImageLogits(context.cond, span);
  } else if (context.uncond.defined()) {
    auto cond = model.SpanImageLogits(context.cond, span);
    torch::Tensor un;
    {
      torch::NoGradGuard no_grad;
      un = model.SpanImageLogits(context.uncond, span);
    }
    logits = GuidedLogits(cond, un, context.guidance);  // differentiable through cond only
  } else {
    // The conditional batch and its unconditional twin in one forward.
    auto both = model.SpanImageLogits(context.joint, torch::cat({span, span}, 0));
    logits = GuidedLogits(both.slice(0, 0, B), both.slice(0, B), context.guidance);
  }
  if (temperature != 1.0) logits = logits / temperature;
  return torch::log_softmax(logits, -1);
}

at::Tensor ImageLogProbs(const MaskedTransformer& model, const PromptBatch& prompts, const PromptBatch& uncond,
                         const at::Tensor& codes, double guidance, double temperature, bool detach_uncond) {
  return ImageLogProbs(model, EncodePrompts(model, prompts, uncond, guidance, detach_uncond), codes, temperature);
}

at::Tensor DrawRemasks(int64_t B, int64_t S, int64_t N, uint64_t seed) {
  auto gen = at::detail::createCPUGenerator(seed);
  auto u = torch::rand({B, S, 1}, gen, torch::kDouble);
  auto m = torch::round(N * torch::cos(u * (M_PI / 2))).clamp(1, N);  // [B, S, 1]
  // The m smallest of N uniform keys: a uniformly random m-subset per draw.
  auto keys = torch::rand({B, S, N}, gen, torch::kDouble);
  auto rank = keys.argsort(/*dim=*/-1, /*descending=*/false).argsort(/*dim=*/-1, /*descending=*/false);
  return rank < m;
}

StatusOr<at::Tensor> RemaskLogProbs(const MaskedTransformer& model, const PromptBatch& prompts,
                                    const PromptBatch& uncond, const at::Tensor& tokens, const at::Tensor& masks,
                                    double guidance, bool detach_uncond, at::Tensor* entropy) {
  if (tokens.dim() != 2 || masks.dim() != 3 || masks.size(0) != tokens.size(0) || masks.size(2) != tokens.size(1)) {
    return InvalidArgument("remask: tokens must be [B, N] and masks [B, S, N]");
  }
  if (prompts.size() != tokens.size(0)) return InvalidArgument("remask: prompts and tokens differ in batch size");
  try {
    auto dev = model.device();
    const int64_t B = tokens.size(0), S = masks.size(1), N = tokens.size(1);
    auto tok_rep = tokens.to(dev).repeat_interleave(S, 0);  // row r = b * S + s
    auto mask = masks.to(dev).reshape({B * S, N});
    auto state = torch::where(mask, torch::full({}, -1, tok_rep.options()), tok_rep);
    auto logp = ImageLogProbs(model, EncodePrompts(model, prompts, uncond, guidance, detach_uncond, S), state);  // [B*S, N, K]
    auto logp_tok = logp.gather(-1, tok_rep.unsqueeze(-1)).squeeze(-1);
    if (entropy) {
      torch::NoGradGuard no_grad;
      auto h = -(logp.exp() * logp).sum(-1);
      *entropy = (torch::where(mask, h, torch::zeros({}, h.options())).sum(-1) / mask.sum(-1).clamp_min(1)).view({B, S});
    }
    return torch::where(mask, logp_tok, torch::zeros({}, logp_tok.options())).sum(-1).view({B, S});
  } catch (const c10::Error& e) {
    return Internal(std::string("remask scoring failed: ") + e.what_without_backtrace());
  }
}

at::Tensor StateBeforeStep(const TrajectoryBatch& traj, int64_t t) {
  return torch::where(traj.reveal_step < t, traj.tokens, torch::full({}, -1, traj.tokens.options()));
}

StatusOr<StepLogProbs> ReplayStepLogProbs(const MaskedTransformer& model, const PromptBatch& prompts,
                                          const PromptBatch& uncond, const TrajectoryBatch& traj,
                                          const std::vector<int64_t>& steps, double guidance,
                                          bool detach_uncond, Candidate1Edge edge, double gumbel_tau0,
                                          bool with_candidate1) {
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
    // Each prompt is encoded once for all of its sample's steps.
    auto logp = ImageLogProbs(model, EncodePrompts(model, prompts, uncond, guidance, detach_uncond, S), state);
    auto revealed = rev_rep == t_rep;
    auto remaining = rev_rep > t_rep;
    auto c = traj.min_revealed_prob.to(dev).index_select(1, step_t).reshape({B * S});
    std::vector<float> widths;
    for (int64_t b = 0; b < B; ++b)
      for (int64_t t : steps) widths.push_back(static_cast<float>(Candidate1EdgeWidth(edge, gumbel_tau0, traj.steps, t)));
    auto out = ComputeStepLogProbs(logp, tok_rep, revealed, remaining, c, torch::tensor(widths).to(dev),
                                   with_candidate1);
    if (with_candidate1) out.candidate1 = out.candidate1.view({B, S});
    out.candidate2 = out.candidate2.view({B, S});
    out.full = out.full.view({B, S});
    out.entropy = out.entropy.view({B, S});
    return out;
  } catch (const c10::Error& e) {
    return Internal(std::string("replay failed: ") + e.what_without_backtrace());
  }
}

}  // namespace maskgrpo
