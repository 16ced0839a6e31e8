// The built-in GenEval-style scorer of the embedded world: the pixel-only detector and
// GenEval's rules (core/shapeworld). "shapeworld_dense" gives partial credit in [0, 1],
// "shapeworld_graded" partial credit that is 0 for an empty image, "shapeworld_binary"
// GenEval's 0/1 verdict, "shapeworld_binary_clean" that verdict minus a small penalty per
// fragment: the same values as `train`'s rewards of those names
// (shapeworld::RewardByName; core/shapeworld/scorer.h says how each is computed).
#pragma once

#include <string>

#include "reward_server/scorer.h"

namespace maskgrpo::reward {

class ShapeWorldScorer : public Scorer {
 public:
  explicit ShapeWorldScorer(std::string reward) : reward_(std::move(reward)) {}
  std::string name() const override { return "shapeworld_" + reward_; }
  std::string description() const override;
  StatusOr<std::vector<double>> Score(const std::vector<const RewardItem*>& items) const override;
  // 64x64 images and prompts in ShapeWorld's vocabulary (shapes, colours, GenEval's tags).
  Status CheckItem(const RewardItem& item, const std::string& field) const override;
  // "stat/objects" (detections of a shape) and "stat/fragments" (regions of no shape).
  std::vector<std::map<std::string, double>> Statistics(const std::vector<const RewardItem*>& items) const override;

 private:
  std::string reward_;  // dense | graded | binary | binary_clean
};

}  // namespace maskgrpo::reward
