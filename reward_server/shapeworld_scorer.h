// The built-in GenEval-style scorer of the embedded world: the pixel-only detector and
// GenEval's rules (core/shapeworld). "shapeworld_dense" gives partial credit in [0, 1],
// "shapeworld_binary" GenEval's 0/1 verdict.
#pragma once

#include "reward_server/scorer.h"

namespace maskgrpo::reward {

class ShapeWorldScorer : public Scorer {
 public:
  explicit ShapeWorldScorer(bool dense) : dense_(dense) {}
  std::string name() const override { return dense_ ? "shapeworld_dense" : "shapeworld_binary"; }
  std::string description() const override;
  StatusOr<std::vector<double>> Score(const std::vector<const RewardItem*>& items) const override;

 private:
  bool dense_;
};

}  // namespace maskgrpo::reward
