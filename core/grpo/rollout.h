// Rollouts for any world: a reproducible stream of training prompts, and whole groups
// sampled in one batched sampler call and decoded by the world (the distributed rollout
// worker sends the images to reward servers; the in-process trainer asks the world's judge).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "core/grpo/learner.h"
#include "core/sampler.h"
#include "core/world/world.h"

namespace maskgrpo::grpo {

// Draw p of the stream: a tag (in OrderedTags order), then a prompt of that tag uniformly,
// both from (seed, p) alone, so that a position is all a checkpoint needs to record. Tags are
// drawn uniformly, or in proportion to `task_weights` (task tag -> weight; a tag it does not
// name weighs 1), which must have passed CheckTaskWeights for these prompts. The lever exists
// for tasks that the others' gradients work against (ShapeWorld's counting: the other tasks
// reward drawing more objects); with no weights the draws are those of the uniform stream.
class PromptStream {
 public:
  PromptStream(const std::vector<Prompt>& prompts, uint64_t seed, int64_t position = 0,
               const std::map<std::string, double>& task_weights = {});
  const Prompt& Next();
  int64_t position() const { return position_; }

 private:
  const std::vector<Prompt>* prompts_;
  std::vector<std::vector<int>> by_tag_;
  // Built once; its draws depend only on the generator, which Next() seeds from (seed, p).
  std::optional<std::discrete_distribution<size_t>> weighted_tags_;  // unset: uniform over tags
  uint64_t seed_;
  int64_t position_;
};

// An error unless every key of `task_weights` is a tag of `prompts`, every weight is in
// [0, kMaxTaskWeight], and some tag keeps a weight above 0 (unnamed tags weigh 1).
inline constexpr double kMaxTaskWeight = 1e6;
// The range part alone (for configs, before the world is loaded).
Status CheckTaskWeightValue(const std::string& task, double weight);
Status CheckTaskWeights(const std::vector<Prompt>& prompts, const std::map<std::string, double>& task_weights);

// An error naming the known rewards unless the world's judge computes `reward`.
Status CheckRewardName(const World& world, const std::string& reward);

// A sampled, decoded, not yet scored group (the rollout worker scores it remotely).
struct SampledGroup {
  const Prompt* prompt = nullptr;
  ScoredGroup group;  // rewards empty
  std::vector<RgbImage> images;
};

// The most images of one prompt a group may hold, for every path (config, lease reply): far
// above any GRPO group (Show-o's Mask-GRPO uses 16), low enough that a corrupted group_size
// is an error rather than an allocation of billions of images.
inline constexpr int64_t kMaxGroupSize = 1024;

// Samples `group_size` (2 to kMaxGroupSize) images for each prompt in one sampler call
// (trajectories on CPU) and decodes them. `version` is recorded as the groups' policy version.
StatusOr<std::vector<SampledGroup>> SampleGroups(const MaskedTransformer& model, const World& world,
                                                 const std::vector<const Prompt*>& prompts, int64_t group_size,
                                                 const SampleOptions& sampling, int64_t version);

// A group scored in process by the world's judge; the group's rewards are `reward`'s values.
struct RolloutGroup {
  const Prompt* prompt = nullptr;
  ScoredGroup group;
  std::vector<Judgement> scores;  // per sample
};

StatusOr<std::vector<RolloutGroup>> SampleScoredGroups(const MaskedTransformer& model, const World& world,
                                                       const std::vector<const Prompt*>& prompts, int64_t group_size,
                                                       const SampleOptions& sampling, const std::string& reward,
                                                       int64_t version);

}  // namespace maskgrpo::grpo
