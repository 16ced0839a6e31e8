// Reward components per update and their baseline, for reward-hacking monitors: the reward
// servers report image statistics ("stat/brightness", ...) next to every reward; the learner
// logs their means per update and keeps each one's value over the first updates of the run,
// so that a statistic drifting far from it while the reward rises can raise an alert
// (deploy/prometheus/alerts.yml, MaskgrpoRewardHackingSuspected).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/json.h"

namespace maskgrpo::learner {

using ComponentValues = std::map<std::string, std::vector<double>>;  // name -> one value per sample

// Mean of each component over every sample of the groups that carry it.
std::map<std::string, double> ComponentMeans(const std::vector<const ComponentValues*>& groups);

class ComponentMonitor {
 public:
  explicit ComponentMonitor(int64_t baseline_updates = 5) : baseline_updates_(baseline_updates) {}

  // An update's means (versions 1..baseline_updates form the baseline).
  void Record(int64_t version, double reward_mean, const std::map<std::string, double>& means);
  // Rebuilds the baseline from metrics.jsonl update lines ({"version", "reward_mean",
  // "components": {...}}), after a resume.
  void Replay(const std::vector<Json>& update_lines);

  bool baseline_ready() const { return updates_ >= baseline_updates_; }
  std::map<std::string, double> baseline() const;
  double reward_baseline() const { return updates_ ? reward_sum_ / static_cast<double>(updates_) : 0.0; }

 private:
  int64_t baseline_updates_;
  int64_t updates_ = 0;
  double reward_sum_ = 0;
  std::map<std::string, std::pair<double, int64_t>> sums_;
};

}  // namespace maskgrpo::learner
