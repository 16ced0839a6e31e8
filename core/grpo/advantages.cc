#include "core/grpo/advantages.h"

#include <cmath>
#include <string>

namespace maskgrpo::grpo {

double Mean(const std::vector<double>& v) {
  if (v.empty()) return 0.0;
  double s = 0;
  for (double x : v) s += x;
  return s / static_cast<double>(v.size());
}

double UnbiasedStd(const std::vector<double>& v) {
  if (v.size() < 2) return 0.0;
  const double m = Mean(v);
  double ss = 0;
  for (double x : v) ss += (x - m) * (x - m);
  return std::sqrt(ss / static_cast<double>(v.size() - 1));
}

StatusOr<std::vector<double>> GroupAdvantages(const std::vector<double>& rewards, int64_t group_size,
                                              const AdvantageOptions& options) {
  if (group_size < 2) return InvalidArgument("advantages: group_size must be >= 2");
  if (rewards.empty() || rewards.size() % static_cast<size_t>(group_size) != 0) {
    return InvalidArgument("advantages: " + std::to_string(rewards.size()) + " rewards do not form groups of " +
                           std::to_string(group_size));
  }
  if (!(options.eps > 0)) return InvalidArgument("advantages: eps must be > 0");
  if (!(options.negative_scale >= 0 && options.negative_scale <= 1)) {
    return InvalidArgument("advantages: negative_scale must be in [0, 1], got " + std::to_string(options.negative_scale));
  }
  for (size_t i = 0; i < rewards.size(); ++i) {
    if (!std::isfinite(rewards[i])) return InvalidArgument("advantages: reward " + std::to_string(i) + " is not finite");
  }
  const double batch_std = UnbiasedStd(rewards);
  std::vector<double> out(rewards.size());
  for (size_t begin = 0; begin < rewards.size(); begin += group_size) {
    std::vector<double> group(rewards.begin() + begin, rewards.begin() + begin + group_size);
    const double mean = Mean(group);
    const double std = options.batch_std ? batch_std : UnbiasedStd(group);
    for (int64_t j = 0; j < group_size; ++j) {
      const double a = (group[j] - mean) / (std + options.eps);
      out[begin + j] = a < 0 ? a * options.negative_scale : a;
    }
  }
  return out;
}

}  // namespace maskgrpo::grpo
