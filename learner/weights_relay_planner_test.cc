#include "learner/weights_relay_planner.h"

#include <gtest/gtest.h>

namespace maskgrpo::learner {
namespace {

RelayPlannerOptions Fanout(int k) {
  RelayPlannerOptions o;
  o.fanout = k;
  o.wait_ms = 1000;
  o.assignment_timeout_ms = 5000;
  return o;
}

TEST(WeightsRelayPlanner, OffSendsEveryoneToTheLearner) {
  WeightsRelayPlanner p(Fanout(0));
  p.Held("a", 1, "a:1", 0);
  for (const char* w : {"b", "c", "d"}) {
    auto c = p.Choose(w, 1, "", 0);
    EXPECT_EQ(c.source, "");
    EXPECT_EQ(c.retry_after_ms, 0);
  }
}

TEST(WeightsRelayPlanner, BuildsATreeWithAtMostFanoutStreamsPerSource) {
  WeightsRelayPlanner p(Fanout(1));
  // The learner takes one worker; the others wait until someone holds the version.
  EXPECT_EQ(p.Choose("a", 1, "", 0).source, "");
  EXPECT_GT(p.Choose("b", 1, "", 1).retry_after_ms, 0);
  EXPECT_GT(p.Choose("c", 1, "", 1).retry_after_ms, 0);
  p.Held("a", 1, "relay-a", 0);
  // a now serves b; the learner has streamed its one copy, so c waits.
  EXPECT_EQ(p.Choose("b", 1, "", 2).source, "relay-a");
  EXPECT_GT(p.Choose("c", 1, "", 2).retry_after_ms, 0);
  p.Held("b", 1, "relay-b", 0);
  // a's stream to b is over: a and b are free, and each takes one.
  const std::string c = p.Choose("c", 1, "", 3).source;
  const std::string d = p.Choose("d", 1, "", 3).source;
  EXPECT_TRUE((c == "relay-a" && d == "relay-b") || (c == "relay-b" && d == "relay-a")) << c << " " << d;
  EXPECT_GT(p.Choose("e", 1, "", 3).retry_after_ms, 0);
  const auto counts = p.Counts();
  EXPECT_EQ(counts.from_learner, 1);
  EXPECT_EQ(counts.from_relays, 3);
  EXPECT_EQ(counts.fallbacks, 0);
  EXPECT_EQ(counts.relays, 2);
}

TEST(WeightsRelayPlanner, ARelayServesOnlyTheVersionItHolds) {
  WeightsRelayPlanner p(Fanout(2));
  p.Held("a", 1, "relay-a", 0);
  EXPECT_EQ(p.Choose("b", 1, "", 0).source, "relay-a");
  // Version 2: a does not hold it; the learner does.
  EXPECT_EQ(p.Choose("c", 2, "", 0).source, "");
  p.Held("a", 2, "relay-a", 0);
  EXPECT_EQ(p.Choose("d", 2, "", 0).source, "relay-a");
  // a moved on: a worker still on version 1 goes to the learner.
  EXPECT_EQ(p.Choose("e", 1, "", 0).source, "");
  // A worker that does not serve is never chosen.
  p.Held("f", 2, "", 0);
  EXPECT_EQ(p.Counts().relays, 1);
}

TEST(WeightsRelayPlanner, AFailedRelayIsDroppedAndTheWorkerFallsBackToTheLearner) {
  WeightsRelayPlanner p(Fanout(1));
  auto first = p.Choose("x", 1, "", 0);  // the learner's one slot is taken
  EXPECT_EQ(first.source, "");
  EXPECT_EQ(first.kind, WeightsSourceKind::kLearner);
  p.Held("a", 1, "relay-a", 0);
  auto relayed = p.Choose("b", 1, "", 0);
  EXPECT_EQ(relayed.source, "relay-a");
  EXPECT_EQ(relayed.kind, WeightsSourceKind::kRelay);
  // b's fetch from a failed: b goes to the learner even though its slot is taken, and no
  // one is sent to a again.
  auto fallback = p.Choose("b", 1, "relay-a", 1);
  EXPECT_EQ(fallback.source, "");
  EXPECT_EQ(fallback.retry_after_ms, 0);
  EXPECT_EQ(fallback.kind, WeightsSourceKind::kFallback);
  EXPECT_EQ(p.Counts().fallbacks, 1);
  EXPECT_EQ(p.Counts().relays, 0);
  auto wait = p.Choose("c", 1, "", 2);
  EXPECT_GT(wait.retry_after_ms, 0);
  EXPECT_EQ(wait.kind, WeightsSourceKind::kWait);
  // a reports a version again: its address stays out until the ban (5000 ms) is over.
  p.Held("a", 2, "relay-a", 10);
  EXPECT_EQ(p.Counts().relays, 0);
  p.Held("a", 2, "relay-a", 5002);
  EXPECT_EQ(p.Counts().relays, 1);
}

TEST(WeightsRelayPlanner, WaitingIsBoundedAndLostAssignmentsFreeTheirSlot) {
  WeightsRelayPlanner p(Fanout(1));
  EXPECT_EQ(p.Choose("a", 1, "", 0).source, "");
  EXPECT_GT(p.Choose("b", 1, "", 10).retry_after_ms, 0);
  EXPECT_GT(p.Choose("b", 1, "", 1009).retry_after_ms, 0);
  // b waited wait_ms (1000): the learner serves it beyond its fan-out.
  auto late = p.Choose("b", 1, "", 1010);
  EXPECT_EQ(late.source, "");
  EXPECT_EQ(late.retry_after_ms, 0);
  EXPECT_EQ(late.kind, WeightsSourceKind::kFallback);
  EXPECT_EQ(p.Counts().fallbacks, 1);
  // a and b never confirm: after the assignment timeout their slots are free again.
  EXPECT_GT(p.Choose("c", 1, "", 4000).retry_after_ms, 0);
  EXPECT_EQ(p.Choose("c", 1, "", 6100).source, "");
}

TEST(WeightsRelayPlanner, ForgetDropsRelaysOfVersionsNoLongerServed) {
  WeightsRelayPlanner p(Fanout(1));
  p.Held("a", 1, "relay-a", 0);
  p.Held("b", 3, "relay-b", 0);
  p.Forget(2);
  EXPECT_EQ(p.Counts().relays, 1);
  EXPECT_EQ(p.Choose("c", 3, "", 0).source, "relay-b");
}

}  // namespace
}  // namespace maskgrpo::learner
