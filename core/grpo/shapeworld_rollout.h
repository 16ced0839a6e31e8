// In-process rollouts on ShapeWorld: a reproducible stream of training prompts, and whole
// groups sampled in one batched sampler call, decoded and scored by the pixel-only
// detector. (The distributed rollout worker does the same with the reward on a server.)
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/grpo/learner.h"
#include "core/sampler.h"
#include "core/shapeworld/dataset.h"
#include "core/shapeworld/scorer.h"

namespace maskgrpo::grpo {

// Draw p of the stream: a task uniformly, then a prompt of that task uniformly, both from
// (seed, p) alone, so that a position is all a checkpoint needs to record.
class PromptStream {
 public:
  PromptStream(const std::vector<shapeworld::PromptSpec>& prompts, uint64_t seed, int64_t position = 0);
  const shapeworld::PromptSpec& Next();
  int64_t position() const { return position_; }

 private:
  const std::vector<shapeworld::PromptSpec>* prompts_;
  std::vector<std::vector<int>> by_task_;
  uint64_t seed_;
  int64_t position_;
};

// dense: partial credit in [0, 1] (an empty image earns some); graded: partial credit that is
// 0 for an empty image and rises towards a correct one; binary: 1 when the GenEval-style verdict is correct;
// mixed: their mean, so a fully correct image earns a bonus over partial credit while
// groups with no correct image still have a spread to learn from.
enum class RewardKind { kDense, kGraded, kBinary, kMixed };
StatusOr<RewardKind> ParseRewardKind(const std::string& name);
double RewardValue(RewardKind kind, const shapeworld::ScoreResult& score);
const char* RewardKindName(RewardKind r);

struct RolloutGroup {
  const shapeworld::PromptSpec* spec = nullptr;
  ScoredGroup group;
  std::vector<shapeworld::ScoreResult> scores;  // per sample
};

// A sampled, decoded, not yet scored group (the rollout worker scores it remotely).
struct SampledGroup {
  const shapeworld::PromptSpec* spec = nullptr;
  ScoredGroup group;  // rewards empty
  std::vector<shapeworld::Image> images;
};

// Samples `group_size` images for each spec in one sampler call (trajectories on CPU) and
// decodes them. `version` is recorded as the groups' policy version.
StatusOr<std::vector<SampledGroup>> SampleGroups(const MaskedTransformer& model, const shapeworld::World& world,
                                                 const std::vector<const shapeworld::PromptSpec*>& specs,
                                                 int64_t group_size, const SampleOptions& sampling, int64_t version);

// SampleGroups, then scoring in process by the pixel-only detector. `version` is recorded as the groups' policy version.
StatusOr<std::vector<RolloutGroup>> SampleScoredGroups(const MaskedTransformer& model, const shapeworld::World& world,
                                                       const std::vector<const shapeworld::PromptSpec*>& specs,
                                                       int64_t group_size, const SampleOptions& sampling,
                                                       RewardKind reward, int64_t version);

}  // namespace maskgrpo::grpo
