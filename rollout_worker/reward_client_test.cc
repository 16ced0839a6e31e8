#include "rollout_worker/reward_client.h"

#include <gtest/gtest.h>

namespace maskgrpo::worker {
namespace {

using Calls = std::vector<std::pair<size_t, size_t>>;

TEST(SplitIntoCalls, BoundsItemsAndBytesPerCall) {
  EXPECT_EQ(SplitIntoCalls({}, 4, 100), Calls{});
  EXPECT_EQ(SplitIntoCalls({1, 1, 1, 1, 1}, 2, 100), (Calls{{0, 2}, {2, 4}, {4, 5}}));
  // 16 images of a 512x512 group (786,432 bytes each) fit one 32 MiB call; 64 do not.
  EXPECT_EQ(SplitIntoCalls(std::vector<int64_t>(16, 786432), 64, 32 << 20), (Calls{{0, 16}}));
  EXPECT_EQ(SplitIntoCalls(std::vector<int64_t>(64, 786432), 64, 32 << 20), (Calls{{0, 42}, {42, 64}}));
  // An item larger than the budget travels alone rather than being dropped.
  EXPECT_EQ(SplitIntoCalls({10, 500, 10}, 8, 100), (Calls{{0, 1}, {1, 2}, {2, 3}}));
}

}  // namespace
}  // namespace maskgrpo::worker
