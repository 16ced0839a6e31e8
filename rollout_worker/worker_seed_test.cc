#include <gtest/gtest.h>

#include "rollout_worker/worker.h"

namespace maskgrpo::worker {
namespace {

// The learner's seed decides a lease's noise whichever worker takes it; only a learner that
// sends none leaves it to the worker's own (worker, call) stream.
TEST(SamplingSeedTest, TheLeasesSeedWinsOverTheWorkersOwnStream) {
  v1::LeaseReply reply;
  reply.add_leases()->set_sampling_seed(77);
  reply.add_leases()->set_sampling_seed(78);
  EXPECT_EQ(SamplingSeed(reply, /*worker_seed=*/1, /*call=*/0), 77u);
  EXPECT_EQ(SamplingSeed(reply, /*worker_seed=*/2, /*call=*/5), 77u);

  v1::LeaseReply old_learner;  // no sampling_seed on the wire
  old_learner.add_leases();
  const uint64_t w1c0 = SamplingSeed(old_learner, 1, 0);
  EXPECT_EQ(w1c0, SamplingSeed(old_learner, 1, 0));
  EXPECT_NE(w1c0, SamplingSeed(old_learner, 1, 1));
  EXPECT_NE(w1c0, SamplingSeed(old_learner, 2, 0));
  EXPECT_NE(w1c0, 77u);
}

}  // namespace
}  // namespace maskgrpo::worker
