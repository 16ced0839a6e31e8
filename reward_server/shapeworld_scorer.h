// The built-in GenEval-style scorer of the embedded world: the pixel-only detector and
// GenEval's rules (core/shapeworld). "shapeworld_dense" gives partial credit in [0, 1],
// "shapeworld_graded" partial credit that is 0 for an empty image, "shapeworld_binary"
// GenEval's 0/1 verdict: the same values as `train`'s rewards of those names
// (grpo::RewardValue; core/shapeworld/scorer.h says how each is computed).
#pragma once

#include "core/grpo/shapeworld_rollout.h"
#include "reward_server/scorer.h"

namespace maskgrpo::reward {

class ShapeWorldScorer : public Scorer {
 public:
  explicit ShapeWorldScorer(grpo::RewardKind kind) : kind_(kind) {}
  std::string name() const override { return std::string("shapeworld_") + grpo::RewardKindName(kind_); }
  std::string description() const override;
  StatusOr<std::vector<double>> Score(const std::vector<const RewardItem*>& items) const override;

 private:
  grpo::RewardKind kind_;
};

}  // namespace maskgrpo::reward
