#include "core/grpo/shapeworld_rollout.h"

#include <torch/torch.h>

#include <random>

namespace maskgrpo::grpo {

using shapeworld::PromptSpec;

PromptStream::PromptStream(const std::vector<PromptSpec>& prompts, uint64_t seed, int64_t position)
    : prompts_(&prompts), seed_(seed), position_(position) {
  by_task_.resize(shapeworld::kNumTasks);
  for (size_t i = 0; i < prompts.size(); ++i) by_task_[static_cast<int>(prompts[i].task)].push_back(static_cast<int>(i));
  by_task_.erase(std::remove_if(by_task_.begin(), by_task_.end(), [](const auto& v) { return v.empty(); }),
                 by_task_.end());
}

const PromptSpec& PromptStream::Next() {
  std::mt19937_64 rng(seed_ * 6364136223846793005ull + static_cast<uint64_t>(position_) * 1442695040888963407ull + 17);
  ++position_;
  const auto& task = by_task_[std::uniform_int_distribution<size_t>(0, by_task_.size() - 1)(rng)];
  return (*prompts_)[task[std::uniform_int_distribution<size_t>(0, task.size() - 1)(rng)]];
}

StatusOr<RewardKind> ParseRewardKind(const std::string& name) {
  if (name == "dense") return RewardKind::kDense;
  if (name == "binary") return RewardKind::kBinary;
  if (name == "mixed") return RewardKind::kMixed;
  if (name == "graded") return RewardKind::kGraded;
  return InvalidArgument("reward must be dense, graded, binary or mixed, got '" + name + "'");
}

const char* RewardKindName(RewardKind r) {
  switch (r) {
    case RewardKind::kDense: return "dense";
    case RewardKind::kGraded: return "graded";
    case RewardKind::kBinary: return "binary";
    case RewardKind::kMixed: return "mixed";
  }
  return "dense";
}

double RewardValue(RewardKind kind, const shapeworld::ScoreResult& score) {
  const double binary = score.correct ? 1.0 : 0.0;
  const double dense = score.dense;
  switch (kind) {
    case RewardKind::kDense: return dense;
    case RewardKind::kGraded: return score.graded;
    case RewardKind::kBinary: return binary;
    case RewardKind::kMixed: return 0.5 * dense + 0.5 * binary;
  }
  return dense;
}

StatusOr<std::vector<SampledGroup>> SampleGroups(const MaskedTransformer& model, const shapeworld::World& world,
                                                 const std::vector<const PromptSpec*>& specs, int64_t group_size,
                                                 const SampleOptions& sampling, int64_t version) {
  if (specs.empty()) return InvalidArgument("rollout: no prompts");
  if (group_size < 2) return InvalidArgument("rollout: group_size must be >= 2");
  const int64_t text_len = model.config().text_len;
  std::vector<std::string> texts;
  for (const auto* s : specs)
    for (int64_t k = 0; k < group_size; ++k) texts.push_back(s->text);
  ASSIGN_OR_RETURN(PromptBatch prompts, shapeworld::EncodePrompts(world.text, texts, text_len));
  const auto uncond = shapeworld::EmptyPrompt(world.text, text_len);
  ASSIGN_OR_RETURN(TrajectoryBatch traj, SampleTrajectories(model, prompts, uncond, sampling));
  auto cpu = [](const torch::Tensor& t) { return t.defined() ? t.to(torch::kCPU) : t; };
  std::vector<SampledGroup> out(specs.size());
  for (size_t g = 0; g < specs.size(); ++g) {
    const int64_t begin = static_cast<int64_t>(g) * group_size, end = begin + group_size;
    auto& sg = out[g];
    sg.spec = specs[g];
    sg.group.prompt_text = specs[g]->text;
    sg.group.prompt = PromptBatch{cpu(prompts.text_ids.slice(0, begin, begin + 1)),
                                  cpu(prompts.text_valid.slice(0, begin, begin + 1))};
    auto& t = sg.group.trajectories;
    t.steps = traj.steps;
    t.tokens = cpu(traj.tokens.slice(0, begin, end));
    t.reveal_step = cpu(traj.reveal_step.slice(0, begin, end));
    t.min_revealed_prob = cpu(traj.min_revealed_prob.slice(0, begin, end));
    t.logp_candidate1 = cpu(traj.logp_candidate1.slice(0, begin, end));
    t.logp_candidate2 = cpu(traj.logp_candidate2.slice(0, begin, end));
    if (traj.logp_full.defined()) t.logp_full = cpu(traj.logp_full.slice(0, begin, end));
    sg.group.policy_version = version;
    for (int64_t i = 0; i < group_size; ++i) {
      ASSIGN_OR_RETURN(shapeworld::Image img, shapeworld::DecodeCodes(world.image, t.tokens[i]));
      sg.images.push_back(std::move(img));
    }
  }
  return out;
}

StatusOr<std::vector<RolloutGroup>> SampleScoredGroups(const MaskedTransformer& model, const shapeworld::World& world,
                                                       const std::vector<const PromptSpec*>& specs, int64_t group_size,
                                                       const SampleOptions& sampling, RewardKind reward,
                                                       int64_t version) {
  ASSIGN_OR_RETURN(auto sampled, SampleGroups(model, world, specs, group_size, sampling, version));
  std::vector<RolloutGroup> out(sampled.size());
  for (size_t g = 0; g < sampled.size(); ++g) {
    auto& rg = out[g];
    rg.spec = sampled[g].spec;
    rg.group = std::move(sampled[g].group);
    for (const auto& img : sampled[g].images) {
      auto score = shapeworld::ScoreDetections(*rg.spec, shapeworld::Detect(img));
      rg.group.rewards.push_back(RewardValue(reward, score));
      rg.scores.push_back(std::move(score));
    }
  }
  return out;
}

}  // namespace maskgrpo::grpo
