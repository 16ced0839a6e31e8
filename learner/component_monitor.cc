#include "learner/component_monitor.h"

namespace maskgrpo::learner {

std::map<std::string, double> ComponentMeans(const std::vector<const ComponentValues*>& groups) {
  std::map<std::string, std::pair<double, int64_t>> sums;
  for (const ComponentValues* g : groups)
    for (const auto& [name, values] : *g)
      for (double v : values) sums[name].first += v, sums[name].second += 1;
  std::map<std::string, double> means;
  for (const auto& [name, s] : sums)
    if (s.second > 0) means[name] = s.first / static_cast<double>(s.second);
  return means;
}

void ComponentMonitor::Record(int64_t version, double reward_mean, const std::map<std::string, double>& means) {
  if (version < 1 || version > baseline_updates_) return;
  ++updates_;
  reward_sum_ += reward_mean;
  for (const auto& [name, mean] : means) sums_[name].first += mean, sums_[name].second += 1;
}

void ComponentMonitor::Replay(const std::vector<Json>& update_lines) {
  *this = ComponentMonitor(baseline_updates_);
  for (const Json& line : update_lines) {
    const Json* version = line.Find("version");
    const Json* reward = line.Find("reward_mean");
    if (!version || !version->is_number() || !reward || !reward->is_number()) continue;
    std::map<std::string, double> means;
    if (const Json* components = line.Find("components"); components && components->is_object()) {
      for (const auto& [name, value] : components->as_object())
        if (value.is_number()) means[name] = value.as_number();
    }
    Record(static_cast<int64_t>(version->as_number()), reward->as_number(), means);
  }
}

std::map<std::string, double> ComponentMonitor::baseline() const {
  std::map<std::string, double> out;
  for (const auto& [name, s] : sums_)
    if (s.second > 0) out[name] = s.first / static_cast<double>(s.second);
  return out;
}

}  // namespace maskgrpo::learner
