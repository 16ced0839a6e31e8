#include "core/grpo/learner.h"

#include "core/torch_api.h"

#include <chrono>
#include <cmath>
#include <algorithm>
#include <filesystem>
#include <regex>

#include "core/json.h"
#include "core/model_io.h"
#include "core/safetensors.h"

namespace maskgrpo::grpo {
namespace {

// Seeds derived from (seed, version, purpose) so that an update is a pure function of the
// learner's state and its input: this is what makes resume exact.
uint64_t DeriveSeed(uint64_t seed, int64_t version, uint64_t purpose) {
  uint64_t x = seed * 0x9E3779B97F4A7C15ull ^ (static_cast<uint64_t>(version) + 0x632BE59BD9B4E019ull) * 0xBF58476D1CE4E5B9ull;
  x ^= purpose * 0x94D049BB133111EBull;
  x ^= x >> 31;
  return x;
}

const torch::Tensor& BehaviourLogp(const TrajectoryBatch& t, Transition transition) {
  switch (transition) {
    // remask scores the final tokens in the learner; the recorded candidate2 is only
    // validated (shape, finite) like any submission's.
    case Transition::kCandidate2: case Transition::kRemask: return t.logp_candidate2;
    case Transition::kFull: return t.logp_full;
    default: return t.logp_candidate1;
  }
}

}  // namespace

std::vector<std::vector<int64_t>> DealMinibatches(int64_t samples, int64_t group_size, int64_t minibatches,
                                                  bool whole_groups, at::Generator& gen) {
  // Deal units (samples, or groups of group_size consecutive rows) in a random order:
  // minibatch m takes units [U m / M, U (m + 1) / M) of the permutation.
  const int64_t units = whole_groups ? samples / group_size : samples;
  const int64_t per_unit = whole_groups ? group_size : 1;
  // Whole groups: an update that got fewer groups than minibatches (the filter ran out of
  // draws) takes one step per group.
  const int64_t m_count = std::max<int64_t>(1, std::min(minibatches, units));
  auto order = torch::randperm(units, gen, torch::kLong);
  const int64_t* o = order.data_ptr<int64_t>();
  std::vector<std::vector<int64_t>> out(static_cast<size_t>(m_count));
  for (int64_t m = 0; m < m_count; ++m) {
    for (int64_t u = units * m / m_count; u < units * (m + 1) / m_count; ++u)
      for (int64_t k = 0; k < per_unit; ++k) out[static_cast<size_t>(m)].push_back(o[u] * per_unit + k);
  }
  return out;
}

Status ValidateLearnerOptions(const LearnerOptions& o) {
  if (!(o.loss.clip_low > 0 && o.loss.clip_low < 1)) return InvalidArgument("clip_low must be in (0, 1)");
  if (!(o.loss.clip_high > 0)) return InvalidArgument("clip_high must be > 0");
  if (!(o.loss.kl_beta >= 0)) return InvalidArgument("kl_beta must be >= 0");
  if (!(o.advantages.eps > 0)) return InvalidArgument("advantage eps must be > 0");
  if (!(o.advantages.negative_scale >= 0 && o.advantages.negative_scale <= 1)) {
    return InvalidArgument("negative_advantage_scale must be in [0, 1]");
  }
  if (o.inner_epochs < 1) return InvalidArgument("inner_epochs must be >= 1");
  if (o.minibatches < 1) return InvalidArgument("minibatches must be >= 1");
  if (o.micro_batch < 1) return InvalidArgument("micro_batch must be >= 1");
  if (!(o.adamw.learning_rate > 0)) return InvalidArgument("learning_rate must be > 0");
  if (!(o.adamw.weight_decay >= 0)) return InvalidArgument("weight_decay must be >= 0");
  if (!(o.min_lr_ratio >= 0 && o.min_lr_ratio <= 1)) return InvalidArgument("min_lr_ratio must be in [0, 1]");
  if (o.warmup_updates < 0) return InvalidArgument("warmup_updates must be >= 0");
  if (o.total_updates < 1) return InvalidArgument("total_updates must be >= 1");
  if (!(o.max_grad_norm >= 0)) return InvalidArgument("max_grad_norm must be >= 0");
  if (!(o.ema_decay >= 0 && o.ema_decay < 1)) return InvalidArgument("ema_decay must be in [0, 1)");
  if (o.reduction.subset != StepSubset::kAll && o.reduction.num_steps < 1) {
    return InvalidArgument("reduction.num_steps must be >= 1 for a first/last/random subset");
  }
  return Status::Ok();
}

StatusOr<std::vector<std::string>> FrozenParameterNames(const MaskedTransformer& model,
                                                        const std::vector<std::string>& patterns) {
  const auto params = model.NamedParameters();
  std::vector<bool> frozen(params.size(), false);
  for (const auto& pattern : patterns) {
    std::regex re;
    try {
      re = std::regex(pattern, std::regex::ECMAScript);
    } catch (const std::regex_error& e) {
      return InvalidArgument("learner.frozen_parameters: '" + pattern + "' is not a valid regular expression: " +
                             e.what());
    }
    bool any = false;
    for (size_t i = 0; i < params.size(); ++i) {
      if (std::regex_search(params[i].first, re)) frozen[i] = any = true;
    }
    if (!any) {
      return InvalidArgument("learner.frozen_parameters: '" + pattern + "' matches no parameter of the model (names " +
                             "are Hugging Face Phi style, e.g. '" + params.front().first + "')");
    }
  }
  std::vector<std::string> names;
  for (size_t i = 0; i < params.size(); ++i) {
    if (frozen[i]) names.push_back(params[i].first);
  }
  if (!params.empty() && names.size() == params.size()) {
    return InvalidArgument("learner.frozen_parameters freezes every parameter: nothing would be trained");
  }
  return names;
}

namespace {

// The dtype the moving average is kept in: float32, or float64 for a float64 policy.
DeviceOptions EmaDevice(const MaskedTransformer& policy) {
  return {policy.device().str(), policy.dtype() == at::kDouble ? "float64" : "float32"};
}

// A copy of `policy`'s weights in the moving average's dtype, with no gradients.
StatusOr<std::unique_ptr<MaskedTransformer>> EmaCopy(const MaskedTransformer& policy) {
  ASSIGN_OR_RETURN(auto ema, MaskedTransformer::Create(policy.config(), EmaDevice(policy), /*init_seed=*/0));
  std::map<std::string, at::Tensor> state;
  for (const auto& [name, p] : policy.NamedParameters()) state[name] = p.detach();
  RETURN_IF_ERROR(ema->LoadState(state));
  for (const auto& p : ema->Parameters()) p.requires_grad_(false);
  return ema;
}

}  // namespace

GrpoLearner::~GrpoLearner() = default;

StatusOr<std::unique_ptr<GrpoLearner>> GrpoLearner::Create(std::unique_ptr<MaskedTransformer> policy,
                                                           std::unique_ptr<MaskedTransformer> reference,
                                                           PromptBatch uncond, const LearnerOptions& options) {
  RETURN_IF_ERROR(ValidateLearnerOptions(options));
  if (!policy) return InvalidArgument("learner: no policy model");
  if (options.loss.kl_beta > 0 && !reference) return InvalidArgument("learner: kl_beta > 0 needs a reference model");
  if (reference && reference->config().ToJson().Dump() != policy->config().ToJson().Dump()) {
    return InvalidArgument("learner: the reference model's shape differs from the policy's");
  }
  std::unique_ptr<GrpoLearner> l(new GrpoLearner());
  l->policy_ = std::move(policy);
  l->reference_ = std::move(reference);
  if (l->reference_) {
    for (const auto& p : l->reference_->Parameters()) p.requires_grad_(false);
  }
  ASSIGN_OR_RETURN(l->frozen_names_, FrozenParameterNames(*l->policy_, options.frozen_parameters));
  // MakeAdamW leaves out parameters that do not require gradients.
  for (const auto& [name, p] : l->policy_->NamedParameters()) {
    if (std::find(l->frozen_names_.begin(), l->frozen_names_.end(), name) != l->frozen_names_.end()) {
      p.requires_grad_(false);
    }
  }
  if (options.ema_decay > 0) {
    ASSIGN_OR_RETURN(l->ema_, EmaCopy(*l->policy_));
  }
  l->uncond_ = std::move(uncond);
  l->options_ = options;
  l->optimizer_ = MakeAdamW(*l->policy_, options.adamw);
  return l;
}

Status ValidateScoredGroup(const ModelConfig& c, Transition transition, int64_t max_version, const ScoredGroup& g) {
  const auto& t = g.trajectories;
  if (!g.prompt.text_ids.defined() || g.prompt.text_ids.dim() != 2 || g.prompt.text_ids.size(0) != 1 ||
      g.prompt.text_ids.size(1) != c.text_len) {
    return InvalidArgument("group.prompt.text_ids must be [1, " + std::to_string(c.text_len) + "]");
  }
  if (!g.prompt.text_valid.defined() || !g.prompt.text_valid.sizes().equals(g.prompt.text_ids.sizes())) {
    return InvalidArgument("group.prompt.text_valid must match text_ids");
  }
  if (!t.tokens.defined() || t.tokens.dim() != 2 || t.tokens.size(1) != c.image_len) {
    return InvalidArgument("group.trajectories.tokens must be [G, " + std::to_string(c.image_len) + "]");
  }
  const int64_t G = t.tokens.size(0);
  if (G < 2) return InvalidArgument("group: needs at least 2 samples, got " + std::to_string(G));
  if (static_cast<int64_t>(g.rewards.size()) != G) {
    return InvalidArgument("group.rewards has " + std::to_string(g.rewards.size()) + " values for " + std::to_string(G) +
                           " samples");
  }
  for (double r : g.rewards) {
    if (!std::isfinite(r)) return InvalidArgument("group.rewards holds a value that is not finite");
  }
  if (t.steps < 1 || t.steps > c.image_len) return InvalidArgument("group.trajectories.steps out of range");
  if (!t.reveal_step.defined() || !t.reveal_step.sizes().equals(t.tokens.sizes())) {
    return InvalidArgument("group.trajectories.reveal_step must be [G, N]");
  }
  if (t.tokens.min().item<int64_t>() < 0 || t.tokens.max().item<int64_t>() >= c.num_image_codes) {
    return InvalidArgument("group.trajectories.tokens out of range [0, " + std::to_string(c.num_image_codes) + ")");
  }
  if (t.reveal_step.min().item<int64_t>() < 0 || t.reveal_step.max().item<int64_t>() >= t.steps) {
    return InvalidArgument("group.trajectories.reveal_step out of range [0, steps)");
  }
  for (const auto* name_tensor : {&t.min_revealed_prob, &BehaviourLogp(t, transition)}) {
    const std::string name = name_tensor == &t.min_revealed_prob ? "min_revealed_prob" : "behaviour log-probs";
    if (!name_tensor->defined() || name_tensor->dim() != 2 || name_tensor->size(0) != G ||
        name_tensor->size(1) != t.steps) {
      return InvalidArgument("group.trajectories." + name + " must be [G, steps]");
    }
    if (!torch::isfinite(*name_tensor).all().item<bool>()) {
      return InvalidArgument("group.trajectories." + name + " holds a value that is not finite");
    }
  }
  if (g.policy_version < 0 || g.policy_version > max_version) {
    return InvalidArgument("group.policy_version " + std::to_string(g.policy_version) + " is beyond the learner's " +
                           std::to_string(max_version));
  }
  return Status::Ok();
}

Status GrpoLearner::ValidateGroup(const ScoredGroup& g) const {
  return ValidateScoredGroup(policy_->config(), options_.transition, version_, g);
}

StatusOr<UpdateStats> GrpoLearner::Update(const std::vector<ScoredGroup>& groups) {
  const auto start = std::chrono::steady_clock::now();
  if (groups.empty()) return InvalidArgument("update: no groups");
  const int64_t G = groups[0].trajectories.size();
  const int64_t T = groups[0].trajectories.steps;
  for (size_t i = 0; i < groups.size(); ++i) {
    Status st = ValidateGroup(groups[i]);
    if (!st.ok()) return InvalidArgument("update: group " + std::to_string(i) + ": " + st.message());
    if (groups[i].trajectories.size() != G || groups[i].trajectories.steps != T) {
      return InvalidArgument("update: groups differ in group size or step count");
    }
  }
  std::vector<double> rewards;
  for (const auto& g : groups) rewards.insert(rewards.end(), g.rewards.begin(), g.rewards.end());
  ASSIGN_OR_RETURN(std::vector<double> adv, GroupAdvantages(rewards, G, options_.advantages));
  ASSIGN_OR_RETURN(std::vector<int64_t> steps,
                   SelectSteps(T, options_.reduction, DeriveSeed(options_.seed, version_, /*purpose=*/1)));
  const int64_t B = static_cast<int64_t>(rewards.size());
  if (options_.minibatches > B) return InvalidArgument("update: more minibatches than samples");

  UpdateStats stats;
  try {
    const auto dev = policy_->device();
    // The whole update's batch, on the model's device.
    std::vector<torch::Tensor> text, valid, tokens, reveal, cmin, lp1, lp2, lpf;
    for (const auto& g : groups) {
      text.push_back(g.prompt.text_ids.expand({G, -1}));
      valid.push_back(g.prompt.text_valid.expand({G, -1}));
      const auto& t = g.trajectories;
      tokens.push_back(t.tokens);
      reveal.push_back(t.reveal_step);
      cmin.push_back(t.min_revealed_prob);
      lp1.push_back(t.logp_candidate1.defined() ? t.logp_candidate1 : torch::zeros_like(t.min_revealed_prob));
      lp2.push_back(t.logp_candidate2.defined() ? t.logp_candidate2 : torch::zeros_like(t.min_revealed_prob));
      lpf.push_back(t.logp_full.defined() ? t.logp_full : torch::zeros_like(t.min_revealed_prob));
    }
    PromptBatch prompts{torch::cat(text).to(dev), torch::cat(valid).to(dev)};
    TrajectoryBatch traj;
    traj.steps = T;
    traj.tokens = torch::cat(tokens).to(dev);
    traj.reveal_step = torch::cat(reveal).to(dev);
    traj.min_revealed_prob = torch::cat(cmin).to(dev, torch::kFloat);
    traj.logp_candidate1 = torch::cat(lp1).to(dev, torch::kFloat);
    traj.logp_candidate2 = torch::cat(lp2).to(dev, torch::kFloat);
    traj.logp_full = torch::cat(lpf).to(dev, torch::kFloat);
    const bool remask = options_.transition == Transition::kRemask;
    torch::Tensor old_logp, counts, masks;  // [B, S], [B, S], remask: [B, S, N]
    if (remask) {
      // One set of re-masking draws per update, shared by the old-policy score below and
      // every minibatch's new-policy score: S = the selected steps' count.
      masks = DrawRemasks(B, static_cast<int64_t>(steps.size()), traj.tokens.size(1),
                          DeriveSeed(options_.seed, version_, /*purpose=*/3))
                  .to(dev);
      counts = masks.sum(-1).to(torch::kFloat);
      torch::NoGradGuard no_grad;
      std::vector<torch::Tensor> parts;
      for (int64_t c0 = 0; c0 < B; c0 += options_.micro_batch) {
        auto cidx = torch::arange(c0, std::min(B, c0 + options_.micro_batch), torch::kLong).to(dev);
        ASSIGN_OR_RETURN(auto lp, RemaskLogProbs(*policy_, prompts.Select(cidx),
                                                 uncond_, traj.tokens.index_select(0, cidx), masks.index_select(0, cidx),
                                                 options_.guidance));
        parts.push_back(lp.to(torch::kFloat));
      }
      old_logp = torch::cat(parts);
    } else {
      auto step_idx = torch::tensor(steps, torch::kLong).to(dev);
      old_logp = BehaviourLogp(traj, options_.transition).index_select(1, step_idx);
      counts = StepTokenCounts(traj, steps, options_.transition);
    }
    auto advantages = torch::tensor(adv, torch::kDouble).to(dev);

    const double lr = WarmupCosineLr(options_.adamw.learning_rate, options_.min_lr_ratio, options_.warmup_updates,
                                     options_.total_updates, version_);
    SetLearningRate(*optimizer_, lr);
    auto params = policy_->Parameters();
    auto gen = at::detail::createCPUGenerator(DeriveSeed(options_.seed, version_, /*purpose=*/2));
    // The candidate1 term is replayed only when it is the objective (see ComputeStepLogProbs).
    const bool with_candidate1 = options_.transition == Transition::kCandidate1;
    for (int64_t epoch = 0; epoch < options_.inner_epochs; ++epoch) {
      const auto dealt = DealMinibatches(B, G, options_.minibatches, options_.group_minibatches, gen);
      for (const auto& rows : dealt) {
        auto idx = torch::tensor(rows, torch::kLong).to(dev);
        const int64_t mb = static_cast<int64_t>(rows.size());
        optimizer_->zero_grad();
        GrpoLossResult sum;
        double loss_sum = 0, entropy_sum = 0;
        const auto mb_counts = counts.index_select(0, idx);  // for each part's PartWeight
        for (int64_t c0 = 0; c0 < mb; c0 += options_.micro_batch) {
          auto cidx = idx.slice(0, c0, std::min(mb, c0 + options_.micro_batch));
          // This part's share of the minibatch's loss: of its rows, or of its tokens when the
          // loss weighs every token equally (options_.loss.weight).
          const double weight = PartWeight(counts.index_select(0, cidx), mb_counts, options_.loss.weight);
          PromptBatch c_prompts = prompts.Select(cidx);
          auto c_traj = traj.Select(cidx);
          torch::Tensor now_lp, ref, entropy;
          if (remask) {
            auto c_masks = masks.index_select(0, cidx);
            ASSIGN_OR_RETURN(now_lp, RemaskLogProbs(*policy_, c_prompts, uncond_, c_traj.tokens, c_masks, options_.guidance,
                                                    options_.detach_unconditional, &entropy));
            if (options_.loss.kl_beta > 0) {
              torch::NoGradGuard no_grad;
              ASSIGN_OR_RETURN(ref, RemaskLogProbs(*reference_, c_prompts, uncond_, c_traj.tokens, c_masks,
                                                   options_.guidance));
            }
          } else {
            ASSIGN_OR_RETURN(StepLogProbs now,
                             ReplayStepLogProbs(*policy_, c_prompts, uncond_, c_traj, steps, options_.guidance,
                                                options_.detach_unconditional, options_.candidate1_edge,
                                                options_.gumbel_tau0, with_candidate1));
            now_lp = now.Get(options_.transition);
            entropy = now.entropy;
            if (options_.loss.kl_beta > 0) {
              torch::NoGradGuard no_grad;
              ASSIGN_OR_RETURN(StepLogProbs r,
                               ReplayStepLogProbs(*reference_, c_prompts, uncond_, c_traj, steps, options_.guidance,
                                                  false, options_.candidate1_edge, options_.gumbel_tau0,
                                                  with_candidate1));
              ref = r.Get(options_.transition);
            }
          }
          auto part = GrpoLoss(now_lp, old_logp.index_select(0, cidx),
                               advantages.index_select(0, cidx), counts.index_select(0, cidx), ref, options_.loss);
          (part.loss * weight).backward();
          loss_sum += weight * part.loss.item<double>();
          sum.policy_loss += weight * part.policy_loss;
          sum.kl += weight * part.kl;
          sum.clip_fraction += weight * part.clip_fraction;
          sum.approx_kl += weight * part.approx_kl;
          sum.ratio_mean += weight * part.ratio_mean;
          entropy_sum += weight * entropy.mean().item<double>();
        }
        double grad_norm;
        if (options_.max_grad_norm > 0) {
          grad_norm = torch::nn::utils::clip_grad_norm_(params, options_.max_grad_norm);
        } else {
          std::vector<torch::Tensor> norms;
          for (const auto& p : params) if (p.grad().defined()) norms.push_back(p.grad().norm().to(torch::kDouble));
          grad_norm = norms.empty() ? 0.0 : torch::stack(norms).norm().item<double>();
        }
        if (!std::isfinite(grad_norm) || !std::isfinite(loss_sum)) {
          // Do not step on a non-finite gradient: the weights would be lost.
          optimizer_->zero_grad();
          return Internal("update: non-finite loss or gradient (loss " + std::to_string(loss_sum) +
                          ", grad norm " + std::to_string(grad_norm) + "); the step was skipped");
        }
        optimizer_->step();
        stats.loss += loss_sum;
        stats.policy_loss += sum.policy_loss;
        stats.kl += sum.kl;
        stats.clip_fraction += sum.clip_fraction;
        stats.approx_kl += sum.approx_kl;
        stats.ratio_mean += sum.ratio_mean;
        stats.grad_norm += grad_norm;
        stats.entropy += entropy_sum;
        ++stats.optimizer_steps;
      }
    }
  } catch (const c10::Error& e) {
    return Internal(std::string("update failed: ") + e.what_without_backtrace());
  }
  const double n = static_cast<double>(stats.optimizer_steps);
  for (double* v : {&stats.loss, &stats.policy_loss, &stats.kl, &stats.clip_fraction, &stats.approx_kl,
                    &stats.ratio_mean, &stats.grad_norm, &stats.entropy}) {
    *v /= n;
  }
  ++version_;
  FoldPolicyIntoEma();
  stats.version = version_;
  stats.groups = static_cast<int64_t>(groups.size());
  stats.samples = B;
  stats.learning_rate = WarmupCosineLr(options_.adamw.learning_rate, options_.min_lr_ratio, options_.warmup_updates,
                                       options_.total_updates, version_ - 1);
  stats.reward_mean = Mean(rewards);
  stats.reward_std = UnbiasedStd(rewards);
  stats.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return stats;
}

void GrpoLearner::FoldPolicyIntoEma() {
  if (!ema_) return;
  torch::NoGradGuard no_grad;
  const auto from = policy_->Parameters();
  auto into = ema_->Parameters();  // the same model shape, so the same order
  const double d = options_.ema_decay;
  for (size_t i = 0; i < into.size(); ++i) into[i].mul_(d).add_(from[i].detach().to(into[i].scalar_type()), 1.0 - d);
}

Status GrpoLearner::SaveCheckpoint(const std::string& dir) const {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return FailedPrecondition("cannot create '" + dir + "': " + ec.message());
  RETURN_IF_ERROR(SaveModel(dir + "/model.safetensors", *policy_, {{"policy_version", std::to_string(version_)}}));
  RETURN_IF_ERROR(SaveOptimizer(*optimizer_, dir + "/optimizer.pt"));
  if (ema_) {
    RETURN_IF_ERROR(SaveModel(dir + "/ema.safetensors", *ema_,
                              {{"policy_version", std::to_string(version_)}, {"ema_decay", std::to_string(options_.ema_decay)}}));
  }
  Json j;
  j["version"] = version_;
  return WriteFileAtomically(dir + "/learner.json", j.Dump(2));
}

Status GrpoLearner::LoadCheckpoint(const std::string& dir) {
  ASSIGN_OR_RETURN(std::string text, ReadFileToString(dir + "/learner.json"));
  ASSIGN_OR_RETURN(Json j, Json::Parse(text));
  const Json* v = j.Find("version");
  if (!v || !v->is_number() || v->as_number() < 0 || v->as_number() != std::floor(v->as_number())) {
    return DataLoss(dir + "/learner.json: 'version' must be a non-negative integer");
  }
  const auto dt = policy_->dtype();
  DeviceOptions device{policy_->device().str(),
                       dt == at::kBFloat16 ? "bfloat16" : dt == at::kDouble ? "float64" : "float32"};
  ASSIGN_OR_RETURN(auto loaded, LoadModel(dir + "/model.safetensors", device));
  if (loaded->config().ToJson().Dump() != policy_->config().ToJson().Dump()) {
    return FailedPrecondition(dir + "/model.safetensors has a different model shape than the learner's");
  }
  std::map<std::string, at::Tensor> state;
  for (const auto& [name, p] : loaded->NamedParameters()) state[name] = p.detach();
  std::map<std::string, at::Tensor> ema_state;
  if (ema_) {
    const std::string ema_path = dir + "/ema.safetensors";
    if (!std::filesystem::exists(ema_path)) {
      return FailedPrecondition(dir + " has no ema.safetensors: it was written without a moving average "
                                "(ema_decay 0), and this learner keeps one (ema_decay " +
                                std::to_string(options_.ema_decay) + "); resume with the run's own ema_decay");
    }
    ASSIGN_OR_RETURN(auto ema_loaded, LoadModel(ema_path, EmaDevice(*policy_)));
    if (ema_loaded->config().ToJson().Dump() != policy_->config().ToJson().Dump()) {
      return FailedPrecondition(ema_path + " has a different model shape than the learner's");
    }
    for (const auto& [name, p] : ema_loaded->NamedParameters()) ema_state[name] = p.detach();
  }
  // The optimiser first: it restores itself on failure, and the weights cannot fail after
  // the shape check above.
  RETURN_IF_ERROR(LoadOptimizer(*optimizer_, dir + "/optimizer.pt"));
  RETURN_IF_ERROR(policy_->LoadState(state));
  if (ema_) RETURN_IF_ERROR(ema_->LoadState(ema_state));
  version_ = static_cast<int64_t>(v->as_number());
  return Status::Ok();
}

}  // namespace maskgrpo::grpo
