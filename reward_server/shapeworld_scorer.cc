#include "reward_server/shapeworld_scorer.h"

#include "core/shapeworld/detector.h"
#include "core/shapeworld/scorer.h"
#include "core/shapeworld/shapeworld_world.h"

namespace maskgrpo::reward {

std::string ShapeWorldScorer::description() const {
  const std::string rules = "ShapeWorld GenEval rules on the pixel-only detector, ";
  if (reward_ == "dense") return rules + "partial credit in [0, 1]";
  if (reward_ == "graded") return rules + "partial credit in [0, 1], 0 for an empty image";
  if (reward_ == "graded_nofrag") return rules + "partial credit in [0, 1], 0 for an empty image, fragments free";
  if (reward_ == "binary") return rules + "binary verdict (0 or 1)";
  if (reward_ == "binary_clean") return rules + "binary verdict minus 0.05 per fragment (at most 4), in [-0.2, 1]";
  return rules + reward_;
}

Status ShapeWorldScorer::CheckItem(const RewardItem& item, const std::string& field) const {
  const auto& img = item.image;
  if (img.width != shapeworld::kImageSize || img.height != shapeworld::kImageSize || !img.Valid()) {
    return InvalidArgument(field + ".image: shapeworld scorers need " + std::to_string(shapeworld::kImageSize) + "x" +
                           std::to_string(shapeworld::kImageSize) + " RGB images, got " + std::to_string(img.width) +
                           "x" + std::to_string(img.height));
  }
  return shapeworld::FromPrompt(item.prompt, field + ".prompt.spec").status();
}

StatusOr<std::vector<double>> ShapeWorldScorer::Score(const std::vector<const RewardItem*>& items) const {
  std::vector<double> out;
  out.reserve(items.size());
  for (const RewardItem* item : items) {
    RETURN_IF_ERROR(CheckItem(*item, "item"));
    auto spec = shapeworld::FromPrompt(item->prompt, "prompt.spec");
    auto result = shapeworld::ScoreDetections(*spec, shapeworld::Detect(item->image));
    out.push_back(shapeworld::RewardByName(reward_, result));
  }
  return out;
}

std::vector<std::map<std::string, double>> ShapeWorldScorer::Statistics(const std::vector<const RewardItem*>& items) const {
  std::vector<std::map<std::string, double>> out;
  for (const RewardItem* item : items) {
    auto& stats = out.emplace_back();
    if (!CheckItem(*item, "item").ok()) continue;
    double objects = 0, fragments = 0;
    for (const auto& d : shapeworld::Detect(item->image)) (d.shape < 0 ? fragments : objects) += 1;
    stats["stat/objects"] = objects;
    stats["stat/fragments"] = fragments;
  }
  return out;
}

}  // namespace maskgrpo::reward
