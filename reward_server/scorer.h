// A reward function over a batch of (image, prompt) items, and the registry that builds
// scorers by name. Scorers are called from the batcher's threads, one batch at a time per
// thread; an implementation must be safe to call from several threads at once (the built-in
// ones are stateless after construction).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/image/rgb_image.h"
#include "core/status.h"
#include "core/world/prompt.h"
#include "maskgrpo/service_config.pb.h"

namespace maskgrpo::reward {

// One image to score with its prompt: the text and GenEval's metadata with free-form class
// names (structure checked when the request is decoded; each scorer checks what it needs in
// CheckItem). Scorers that only need the text (CLIP-like ones) ignore the metadata.
struct RewardItem {
  RgbImage image;
  Prompt prompt;
};

class Scorer {
 public:
  virtual ~Scorer() = default;
  virtual std::string name() const = 0;
  virtual std::string description() const = 0;
  // One value per item, in order, finite. An error fails the whole batch (the callers'
  // groups are then dropped by the workers, never given an invented reward).
  virtual StatusOr<std::vector<double>> Score(const std::vector<const RewardItem*>& items) const = 0;
  // Called for each item of a request before it is queued, so that one caller's bad item is
  // that caller's INVALID_ARGUMENT and never fails a batch shared with others.
  // `field` names the item in errors (e.g. "items[3]").
  virtual Status CheckItem(const RewardItem& item, const std::string& field) const { return Status::Ok(); }
  // Per-item statistics the scorer can see cheaply (ShapeWorld: objects and fragments), as
  // unweighted "stat/..." components next to the reward; empty by default.
  virtual std::vector<std::map<std::string, double>> Statistics(const std::vector<const RewardItem*>& items) const {
    return {};
  }
};

// Builds a scorer from its configured name (and, for "torchscript", the model file); the
// error lists the known names.
StatusOr<std::unique_ptr<Scorer>> MakeScorer(const std::string& name, const std::string& model_path = "");
// The same from a scorers {} block of the reward server config (the CLIP family needs its
// tokenizer, architecture, head and runtime fields).
StatusOr<std::unique_ptr<Scorer>> MakeScorer(const config::ScorerConfig& config);
std::vector<std::string> KnownScorers();

// Several scorers combined by weights: reward = sum_i weight_i * component_i.
struct WeightedScorer {
  std::unique_ptr<Scorer> scorer;
  double weight = 1.0;
};

struct ItemScore {
  double reward = 0.0;
  // Each scorer's unweighted value by its name, and the image statistics that watch for
  // reward hacking ("stat/brightness", "stat/dark_fraction", "stat/edge_density",
  // "stat/color_entropy", plus a scorer's own, e.g. "stat/objects"); never part of `reward`.
  std::map<std::string, double> components;
};

class CombinedScorer {
 public:
  explicit CombinedScorer(std::vector<WeightedScorer> scorers) : scorers_(std::move(scorers)) {}
  StatusOr<std::vector<ItemScore>> Score(const std::vector<const RewardItem*>& items) const;
  Status CheckItem(const RewardItem& item, const std::string& field) const;
  const std::vector<WeightedScorer>& scorers() const { return scorers_; }

 private:
  std::vector<WeightedScorer> scorers_;
};

}  // namespace maskgrpo::reward
