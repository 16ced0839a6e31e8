#include "reward_server/shapeworld_scorer.h"

#include "core/shapeworld/detector.h"
#include "core/shapeworld/scorer.h"

namespace maskgrpo::reward {

std::string ShapeWorldScorer::description() const {
  const std::string rules = "ShapeWorld GenEval rules on the pixel-only detector, ";
  switch (kind_) {
    case grpo::RewardKind::kDense: return rules + "partial credit in [0, 1]";
    case grpo::RewardKind::kGraded: return rules + "partial credit in [0, 1], 0 for an empty image";
    case grpo::RewardKind::kBinary: return rules + "binary verdict (0 or 1)";
    case grpo::RewardKind::kMixed: return rules + "mean of the partial credit and the binary verdict";
  }
  return rules;
}

StatusOr<std::vector<double>> ShapeWorldScorer::Score(const std::vector<const RewardItem*>& items) const {
  std::vector<double> out;
  out.reserve(items.size());
  for (const RewardItem* item : items) {
    const auto& img = item->image;
    if (img.width != shapeworld::kImageSize || img.height != shapeworld::kImageSize ||
        img.rgb.size() != static_cast<size_t>(img.width) * img.height * 3) {
      return InvalidArgument("image: shapeworld scorers need " + std::to_string(shapeworld::kImageSize) + "x" +
                             std::to_string(shapeworld::kImageSize) + " RGB images");
    }
    auto result = shapeworld::ScoreDetections(item->spec, shapeworld::Detect(img));
    out.push_back(grpo::RewardValue(kind_, result));
  }
  return out;
}

}  // namespace maskgrpo::reward
