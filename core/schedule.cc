#include "core/schedule.h"

#include <algorithm>
#include <cmath>

namespace maskgrpo {

int64_t MaskedAfterStep(int64_t num_positions, int64_t steps, int64_t t, int64_t masked_before) {
  if (t >= steps - 1) return 0;
  const double ratio = static_cast<double>(t + 1) / static_cast<double>(steps);
  const int64_t target = static_cast<int64_t>(std::floor(num_positions * std::cos(M_PI / 2.0 * ratio)));
  // Show-o: max(1, min(masked_before - 1, target)).
  return std::max<int64_t>(1, std::min<int64_t>(masked_before - 1, target));
}

double GumbelTemperature(double tau0, int64_t steps, int64_t t) {
  double tau = tau0;
  for (int64_t i = 0; i <= t; ++i) tau *= 1.0 - static_cast<double>(i + 1) / static_cast<double>(steps);
  return tau;
}

}  // namespace maskgrpo
