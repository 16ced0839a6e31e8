#include "reward_server/batcher.h"

#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <thread>

namespace maskgrpo::reward {
namespace {

std::vector<RewardItem> Items(int n, uint8_t tag) {
  std::vector<RewardItem> items(n);
  for (auto& it : items) {
    it.image.width = it.image.height = 1;
    it.image.rgb = {tag, 0, 0};
  }
  return items;
}

// Scores an item with its tag (the first byte), recording batch sizes.
struct FakeScorer {
  std::atomic<int> batches{0};
  std::atomic<int> largest{0};
  std::chrono::milliseconds delay{0};
  StatusOr<std::vector<ItemScore>> operator()(const std::vector<const RewardItem*>& items) {
    ++batches;
    largest = std::max<int>(largest, static_cast<int>(items.size()));
    std::this_thread::sleep_for(delay);
    std::vector<ItemScore> out(items.size());
    for (size_t i = 0; i < items.size(); ++i) out[i].reward = items[i]->image.rgb[0];
    return out;
  }
};

TEST(DynamicBatcher, BatchesAcrossCallersAndKeepsEachCallersOrder) {
  FakeScorer scorer;
  BatcherOptions o;
  o.max_batch = 8;
  o.max_queue_delay = std::chrono::milliseconds(50);
  DynamicBatcher batcher(o, [&](const auto& items) { return scorer(items); });
  auto deadline = Clock::now() + std::chrono::seconds(10);
  auto a = std::async(std::launch::async, [&] { return batcher.Score(Items(4, 1), deadline); });
  auto b = std::async(std::launch::async, [&] { return batcher.Score(Items(4, 2), deadline); });
  auto ra = a.get(), rb = b.get();
  ASSERT_TRUE(ra.ok() && rb.ok());
  for (const auto& s : *ra) EXPECT_EQ(s.reward, 1);
  for (const auto& s : *rb) EXPECT_EQ(s.reward, 2);
  EXPECT_EQ(scorer.largest.load(), 8);  // the two callers shared one batch
  EXPECT_EQ(scorer.batches.load(), 1);
}

TEST(DynamicBatcher, SplitsRequestsLargerThanABatch) {
  FakeScorer scorer;
  BatcherOptions o;
  o.max_batch = 4;
  o.max_queue_delay = std::chrono::milliseconds(0);
  DynamicBatcher batcher(o, [&](const auto& items) { return scorer(items); });
  auto r = batcher.Score(Items(10, 3), Clock::now() + std::chrono::seconds(10));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->size(), 10u);
  EXPECT_EQ(scorer.batches.load(), 3);
  EXPECT_LE(scorer.largest.load(), 4);
}

TEST(DynamicBatcher, FullQueueIsResourceExhaustedAndDeadlineIsDeadlineExceeded) {
  FakeScorer scorer;
  scorer.delay = std::chrono::milliseconds(300);
  BatcherOptions o;
  o.max_batch = 2;
  o.max_queue_items = 4;
  o.max_queue_delay = std::chrono::milliseconds(0);
  DynamicBatcher batcher(o, [&](const auto& items) { return scorer(items); });
  // Occupies the scorer thread, then fills the queue.
  auto busy = std::async(std::launch::async, [&] { return batcher.Score(Items(2, 1), Clock::now() + std::chrono::seconds(10)); });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  auto queued = std::async(std::launch::async, [&] { return batcher.Score(Items(4, 1), Clock::now() + std::chrono::milliseconds(100)); });
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  auto rejected = batcher.Score(Items(1, 1), Clock::now() + std::chrono::seconds(10));
  ASSERT_FALSE(rejected.ok());
  EXPECT_EQ(rejected.status().code(), StatusCode::kResourceExhausted);
  auto late = queued.get();
  ASSERT_FALSE(late.ok());
  EXPECT_EQ(late.status().code(), StatusCode::kDeadlineExceeded);
  EXPECT_TRUE(busy.get().ok());
  // The expired request's items left the queue.
  EXPECT_EQ(batcher.queued_items(), 0);
  EXPECT_TRUE(batcher.Score(Items(1, 5), Clock::now() + std::chrono::seconds(10)).ok());
}

TEST(DynamicBatcher, AScorerErrorFailsTheBatchsCallersAndNothingIsInvented) {
  BatcherOptions o;
  o.max_queue_delay = std::chrono::milliseconds(0);
  DynamicBatcher batcher(o, [](const std::vector<const RewardItem*>&) -> StatusOr<std::vector<ItemScore>> {
    return Internal("model crashed");
  });
  auto r = batcher.Score(Items(3, 1), Clock::now() + std::chrono::seconds(10));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInternal);
}

TEST(DynamicBatcher, ShutdownFailsWaitingCallers) {
  FakeScorer scorer;
  scorer.delay = std::chrono::milliseconds(200);
  BatcherOptions o;
  o.max_batch = 1;
  o.max_queue_delay = std::chrono::milliseconds(0);
  DynamicBatcher batcher(o, [&](const auto& items) { return scorer(items); });
  auto first = std::async(std::launch::async, [&] { return batcher.Score(Items(1, 1), Clock::now() + std::chrono::seconds(10)); });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  auto second = std::async(std::launch::async, [&] { return batcher.Score(Items(1, 1), Clock::now() + std::chrono::seconds(10)); });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  batcher.Shutdown();
  auto r = second.get();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);
  first.get();
}

TEST(DynamicBatcher, RejectsBadOptions) {
  BatcherOptions o;
  o.max_batch = 0;
  EXPECT_FALSE(ValidateBatcherOptions(o).ok());
  o = BatcherOptions();
  o.max_queue_items = o.max_batch - 1;
  EXPECT_FALSE(ValidateBatcherOptions(o).ok());
}

}  // namespace
}  // namespace maskgrpo::reward
