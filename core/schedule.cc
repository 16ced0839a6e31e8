#include "core/schedule.h"

#include <algorithm>
#include <cmath>

namespace maskgrpo {

int64_t MaskedAfterStep(int64_t num_positions, int64_t steps, int64_t t, int64_t masked_before) {
  if (t >= steps - 1) return 0;
  // In float32, as Show-o computes it (a float32 tensor of the ratio, cos, times N, floor):
  // where (t + 1) / T = 2/3 that gives 511 of 1024 where float64 would give 512, so the
  // same arithmetic is needed for step-for-step parity (showo-stack.md 2.5).
  const float ratio = static_cast<float>(static_cast<double>(t + 1) / static_cast<double>(steps));
  const float mask_ratio = std::cos(ratio * static_cast<float>(M_PI * 0.5));
  const int64_t target = static_cast<int64_t>(std::floor(static_cast<float>(num_positions) * mask_ratio));
  // Show-o: max(1, min(masked_before - 1, target)).
  return std::max<int64_t>(1, std::min<int64_t>(masked_before - 1, target));
}

double GumbelTemperature(double tau0, int64_t steps, int64_t t) {
  double tau = tau0;
  for (int64_t i = 0; i <= t; ++i) tau *= 1.0 - static_cast<double>(i + 1) / static_cast<double>(steps);
  return tau;
}

}  // namespace maskgrpo
