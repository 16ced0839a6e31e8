#include "core/schedule.h"

#include <gtest/gtest.h>

#include <cmath>

namespace maskgrpo {
namespace {

TEST(ScheduleTest, MatchesTheCosineFormulaAndRevealsEverything) {
  for (auto [N, T] : std::vector<std::pair<int64_t, int64_t>>{{1024, 50}, {64, 8}, {64, 16}, {256, 18}, {4, 4}, {1024, 20}}) {
    int64_t masked = N, revealed_total = 0;
    for (int64_t t = 0; t < T; ++t) {
      const int64_t after = MaskedAfterStep(N, T, t, masked);
      int64_t expected;
      if (t == T - 1) {
        expected = 0;
      } else {
        const float ratio = static_cast<float>((t + 1.0) / T);  // Show-o's float32 arithmetic
        expected = static_cast<int64_t>(std::floor(static_cast<float>(N) * std::cos(ratio * static_cast<float>(M_PI / 2))));
        expected = std::max<int64_t>(1, std::min<int64_t>(masked - 1, expected));
      }
      EXPECT_EQ(after, expected) << "N=" << N << " T=" << T << " t=" << t;
      revealed_total += masked - after;
      masked = after;
    }
    EXPECT_EQ(revealed_total, N);
    EXPECT_EQ(masked, 0);
  }
}

TEST(ScheduleTest, KnownValues) {
  // N = 64, T = 8: floor(64 cos(pi/16)) = 62 left after step 0.
  EXPECT_EQ(MaskedAfterStep(64, 8, 0, 64), 62);
  // N = 1024, T = 50, step 24: floor(1024 cos(pi/4)) = 724.
  EXPECT_EQ(MaskedAfterStep(1024, 50, 24, 1000), 724);
  // Show-o's default T = 18 at step 11, (t + 1) / T = 2/3: float32 gives 511 (upstream's
  // value, checked by running it; showo-stack.md 2.5), float64 would give 512.
  EXPECT_EQ(MaskedAfterStep(1024, 18, 11, 1000), 511);
  EXPECT_EQ(MaskedAfterStep(256, 18, 11, 300), 127);
}

TEST(ScheduleTest, GumbelTemperatureCompounds) {
  // tau_t = prod_{i<=t} (1 - (i+1)/T)
  EXPECT_DOUBLE_EQ(GumbelTemperature(1.0, 4, 0), 0.75);
  EXPECT_DOUBLE_EQ(GumbelTemperature(1.0, 4, 1), 0.75 * 0.5);
  EXPECT_DOUBLE_EQ(GumbelTemperature(2.0, 4, 2), 2.0 * 0.75 * 0.5 * 0.25);
  EXPECT_DOUBLE_EQ(GumbelTemperature(1.0, 4, 3), 0.0);
}

}  // namespace
}  // namespace maskgrpo
