#include "reward_server/scorer.h"

#include <cmath>

#include "core/image/image_stats.h"

#include "reward_server/clip_scorer.h"
#include "reward_server/shapeworld_scorer.h"
#include "reward_server/torchscript_scorer.h"

namespace maskgrpo::reward {

std::vector<std::string> KnownScorers() {
  return {"shapeworld_dense",         "shapeworld_graded", "shapeworld_binary", "shapeworld_binary_clean",
          "shapeworld_graded_nofrag", "torchscript",       "clip_score",        "pickscore",
          "hpsv2",                    "aesthetic"};
}

StatusOr<std::unique_ptr<Scorer>> MakeScorer(const config::ScorerConfig& config) {
  if (IsClipFamilyScorer(config.name())) return MakeClipFamilyScorer(config);
  if (!config.tokenizer_path().empty() || !config.architecture().empty() || !config.activation().empty() ||
      !config.head_path().empty() || !config.checkpoint_key().empty() || config.has_runtime()) {
    return InvalidArgument("tokenizer_path, architecture, activation, head_path, checkpoint_key and runtime are for "
                           "the CLIP-family scorers, not '" + config.name() + "'");
  }
  return MakeScorer(config.name(), config.model_path());
}

StatusOr<std::unique_ptr<Scorer>> MakeScorer(const std::string& name, const std::string& model_path) {
  if (IsClipFamilyScorer(name)) {
    config::ScorerConfig c;
    c.set_name(name);
    c.set_model_path(model_path);
    return MakeClipFamilyScorer(c);
  }
  if (name != "torchscript" && !model_path.empty()) {
    return InvalidArgument("model_path is only for the torchscript and CLIP-family scorers, not '" + name + "'");
  }
  if (name == "shapeworld_dense") return std::unique_ptr<Scorer>(new ShapeWorldScorer("dense"));
  if (name == "shapeworld_graded") return std::unique_ptr<Scorer>(new ShapeWorldScorer("graded"));
  if (name == "shapeworld_binary") return std::unique_ptr<Scorer>(new ShapeWorldScorer("binary"));
  if (name == "shapeworld_binary_clean") return std::unique_ptr<Scorer>(new ShapeWorldScorer("binary_clean"));
  if (name == "shapeworld_graded_nofrag") return std::unique_ptr<Scorer>(new ShapeWorldScorer("graded_nofrag"));
  if (name == "torchscript") return TorchScriptScorer::Load(model_path);
  std::string known;
  for (const auto& n : KnownScorers()) known += (known.empty() ? "" : ", ") + n;
  return InvalidArgument("unknown scorer '" + name + "' (known: " + known + ")");
}

Status CombinedScorer::CheckItem(const RewardItem& item, const std::string& field) const {
  for (const auto& ws : scorers_) {
    Status st = ws.scorer->CheckItem(item, field);
    if (!st.ok()) return InvalidArgument(st.message() + " (scorer " + ws.scorer->name() + ")");
  }
  return Status::Ok();
}

StatusOr<std::vector<ItemScore>> CombinedScorer::Score(const std::vector<const RewardItem*>& items) const {
  std::vector<ItemScore> out(items.size());
  for (const auto& ws : scorers_) {
    auto values = ws.scorer->Score(items);
    if (!values.ok()) return values.status();
    if (values->size() != items.size()) {
      return Internal("scorer " + ws.scorer->name() + " returned " + std::to_string(values->size()) +
                      " values for " + std::to_string(items.size()) + " items");
    }
    for (size_t i = 0; i < items.size(); ++i) {
      double v = (*values)[i];
      // A reward is never invented: a non-finite value fails the batch.
      if (!std::isfinite(v)) return Internal("scorer " + ws.scorer->name() + " returned a non-finite value");
      out[i].components[ws.scorer->name()] = v;
      out[i].reward += ws.weight * v;
    }
    const auto stats = ws.scorer->Statistics(items);
    for (size_t i = 0; i < stats.size() && i < items.size(); ++i)
      for (const auto& [name, value] : stats[i]) out[i].components[name] = value;
  }
  for (size_t i = 0; i < items.size(); ++i)
    for (const auto& [name, value] : ImageStatComponents(ComputeImageStats(items[i]->image))) out[i].components[name] = value;
  return out;
}

}  // namespace maskgrpo::reward
