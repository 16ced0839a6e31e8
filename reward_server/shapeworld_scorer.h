// The built-in GenEval-style scorer of the embedded world: the pixel-only detector and
// GenEval's rules (core/shapeworld). "shapeworld_dense" gives partial credit in [0, 1],
// "shapeworld_graded" partial credit that is 0 for an empty image, "shapeworld_binary"
// GenEval's 0/1 verdict (core/shapeworld/scorer.h says how each is computed).
#pragma once

#include "reward_server/scorer.h"

namespace maskgrpo::reward {

class ShapeWorldScorer : public Scorer {
 public:
  enum class Value { kDense, kGraded, kBinary };
  explicit ShapeWorldScorer(Value value) : value_(value) {}
  std::string name() const override;
  std::string description() const override;
  StatusOr<std::vector<double>> Score(const std::vector<const RewardItem*>& items) const override;

 private:
  Value value_;
};

}  // namespace maskgrpo::reward
