#include "core/grpo/rollout.h"

#include "core/torch_api.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>

namespace maskgrpo::grpo {

PromptStream::PromptStream(const std::vector<Prompt>& prompts, uint64_t seed, int64_t position,
                           const std::map<std::string, double>& task_weights)
    : prompts_(&prompts), seed_(seed), position_(position) {
  std::vector<double> weights;
  for (const auto& tag : OrderedTags(prompts)) {
    std::vector<int>& list = by_tag_.emplace_back();
    for (size_t i = 0; i < prompts.size(); ++i)
      if (prompts[i].tag == tag) list.push_back(static_cast<int>(i));
    const auto it = task_weights.find(tag);
    weights.push_back(it == task_weights.end() ? 1.0 : it->second);
  }
  if (!task_weights.empty()) weighted_tags_.emplace(weights.begin(), weights.end());
}

const Prompt& PromptStream::Next() {
  std::mt19937_64 rng(seed_ * 6364136223846793005ull + static_cast<uint64_t>(position_) * 1442695040888963407ull + 17);
  ++position_;
  // The uniform draw is kept as it was when no weights are set, so that runs (and their
  // checkpoints' positions) made before task weights existed replay the same prompts.
  const size_t t = weighted_tags_ ? (*weighted_tags_)(rng)
                                  : std::uniform_int_distribution<size_t>(0, by_tag_.size() - 1)(rng);
  const auto& tag = by_tag_[t];
  return (*prompts_)[tag[std::uniform_int_distribution<size_t>(0, tag.size() - 1)(rng)]];
}

Status CheckTaskWeightValue(const std::string& task, double weight) {
  // Bounded so that the weights' sum stays finite for discrete_distribution.
  if (std::isfinite(weight) && weight >= 0 && weight <= kMaxTaskWeight) return Status::Ok();
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%g", weight);
  return InvalidArgument("task_weights['" + task + "'] must be in [0, 1e6], got " + buf);
}

Status CheckTaskWeights(const std::vector<Prompt>& prompts, const std::map<std::string, double>& task_weights) {
  if (task_weights.empty()) return Status::Ok();
  const std::vector<std::string> tags = OrderedTags(prompts);
  std::string known;
  for (const auto& t : tags) known += (known.empty() ? "'" : ", '") + t + "'";
  for (const auto& [task, weight] : task_weights) {
    if (std::find(tags.begin(), tags.end(), task) == tags.end()) {
      return InvalidArgument("task_weights names '" + task + "', which is not a task of the training prompts (tasks: " +
                             known + ")");
    }
    RETURN_IF_ERROR(CheckTaskWeightValue(task, weight));
  }
  for (const auto& t : tags) {
    const auto it = task_weights.find(t);
    if (it == task_weights.end() || it->second > 0) return Status::Ok();
  }
  return InvalidArgument("task_weights leave no task with a weight above 0");
}

Status CheckRewardName(const World& world, const std::string& reward) {
  if (!world.has_judge()) {
    return FailedPrecondition("world '" + world.name() + "' has no built-in judge to compute the reward '" + reward +
                              "' in process: train it with the distributed service and a reward server");
  }
  const auto names = world.reward_names();
  if (std::find(names.begin(), names.end(), reward) != names.end()) return Status::Ok();
  std::string known;
  for (const auto& n : names) known += (known.empty() ? "" : ", ") + n;
  return InvalidArgument("reward must be one of " + known + " for world '" + world.name() + "', got '" + reward + "'");
}

StatusOr<std::vector<SampledGroup>> SampleGroups(const MaskedTransformer& model, const World& world,
                                                 const std::vector<const Prompt*>& prompts, int64_t group_size,
                                                 const SampleOptions& sampling, int64_t version) {
  if (prompts.empty()) return InvalidArgument("rollout: no prompts");
  if (group_size < 2 || group_size > kMaxGroupSize) {
    return InvalidArgument("rollout: group_size must be in [2, " + std::to_string(kMaxGroupSize) + "], got " +
                           std::to_string(group_size));
  }
  const int64_t text_len = model.config().text_len;
  std::vector<std::string> texts;
  for (const auto* p : prompts)
    for (int64_t k = 0; k < group_size; ++k) texts.push_back(p->text);
  ASSIGN_OR_RETURN(PromptBatch batch, world.EncodePrompts(texts, text_len));
  const auto uncond = world.UnconditionalPrompt(text_len);
  ASSIGN_OR_RETURN(TrajectoryBatch traj, SampleTrajectories(model, batch, uncond, sampling));
  ASSIGN_OR_RETURN(std::vector<RgbImage> images, world.DecodeImages(traj.tokens));
  // Groups travel and are stored on the host: one transfer per batch, then each group's rows.
  const PromptBatch host_prompts = batch.To(torch::kCPU);
  const TrajectoryBatch host_traj = traj.To(torch::kCPU);
  std::vector<SampledGroup> out(prompts.size());
  for (size_t g = 0; g < prompts.size(); ++g) {
    const int64_t begin = static_cast<int64_t>(g) * group_size, end = begin + group_size;
    auto& sg = out[g];
    sg.prompt = prompts[g];
    sg.group.prompt_text = prompts[g]->text;
    sg.group.prompt = host_prompts.Rows(begin, begin + 1);  // the group's members share one prompt
    sg.group.trajectories = host_traj.Rows(begin, end);
    sg.group.policy_version = version;
    for (int64_t i = begin; i < end; ++i) sg.images.push_back(std::move(images[static_cast<size_t>(i)]));
  }
  return out;
}

StatusOr<std::vector<RolloutGroup>> SampleScoredGroups(const MaskedTransformer& model, const World& world,
                                                       const std::vector<const Prompt*>& prompts, int64_t group_size,
                                                       const SampleOptions& sampling, const std::string& reward,
                                                       int64_t version) {
  RETURN_IF_ERROR(CheckRewardName(world, reward));
  ASSIGN_OR_RETURN(auto sampled, SampleGroups(model, world, prompts, group_size, sampling, version));
  std::vector<RolloutGroup> out(sampled.size());
  for (size_t g = 0; g < sampled.size(); ++g) {
    auto& rg = out[g];
    rg.prompt = sampled[g].prompt;
    rg.group = std::move(sampled[g].group);
    ASSIGN_OR_RETURN(rg.scores, world.Judge(*rg.prompt, sampled[g].images));
    for (const auto& j : rg.scores) rg.group.rewards.push_back(j.rewards.at(reward));
  }
  return out;
}

}  // namespace maskgrpo::grpo
