// Fault tolerance with the real binaries on loopback: kill -9 of a worker and of the
// learner, and a reward server that goes away and comes back.
#include <gtest/gtest.h>

#include "tests/service_fixture.h"

namespace maskgrpo {
namespace {

using testing::Clock;

class FaultTest : public testing::ServiceFixture {
 protected:
  std::vector<std::string> WorkerArgs(const std::string& id, int learner_port, int reward_port) {
    return {"--learner", "127.0.0.1:" + std::to_string(learner_port), "--reward-servers",
            "127.0.0.1:" + std::to_string(reward_port), "--worker-id", id, "--threads", "1"};
  }
};

TEST_F(FaultTest, AKilledWorkersLeasesAreReissuedAndARestartedWorkerJoinsAtTheCurrentVersion) {
  const int reward = Start("reward", "reward_server", {"--listen", "127.0.0.1:0"}).grpc;
  const int learner = Start("learner", "learner",
                            {"--config", LearnerConfig(20, "lease_timeout_ms: 3000"), "--out", (dir_ / "run").string()})
                          .grpc;
  auto stub = LearnerStub(learner);
  Start("w1", "rollout_worker", WorkerArgs("w1", learner, reward));
  auto s = WaitFor(
      stub.get(), [](const v1::LearnerStatus& st) { return st.policy_version() >= 1 && st.outstanding_leases() > 0; }, 300);
  ASSERT_GE(s.policy_version(), 1);
  Kill("w1");  // mid-run, holding leases
  // Nobody works now; the dead worker's leases expire and go back to the queue.
  s = WaitFor(stub.get(), [](const v1::LearnerStatus& st) { return st.leases_expired() > 0; }, 60);
  EXPECT_GT(s.leases_expired(), 0);
  const int64_t version_at_restart = s.policy_version();
  Start("w2", "rollout_worker", WorkerArgs("w2", learner, reward));
  s = WaitFor(stub.get(), [](const v1::LearnerStatus& st) { return st.finished(); }, 300);
  EXPECT_TRUE(s.finished());
  EXPECT_EQ(s.policy_version(), 20);
  // The new worker's first weights are those current when it joined, not version 0.
  std::ifstream log(Log("w2"));
  std::string text((std::istreambuf_iterator<char>(log)), std::istreambuf_iterator<char>());
  const auto at = text.find("weights of version ");
  ASSERT_NE(at, std::string::npos) << text;
  EXPECT_GE(std::stoll(text.substr(at + 19)), version_at_restart) << text;
}

// A worker killed while it holds leases and restarted under the same id (a container
// restarted in its pod) reports that it holds none: its old leases are released at once, so
// the run goes on long before their 10-minute timeout.
TEST_F(FaultTest, AWorkerRestartedUnderItsIdHasItsOldLeasesReleasedAtOnce) {
  const int reward = Start("reward", "reward_server", {"--listen", "127.0.0.1:0"}).grpc;
  const int learner = Start("learner", "learner",
                            {"--config", LearnerConfig(6, "lease_timeout_ms: 600000"), "--out", (dir_ / "run").string()})
                          .grpc;
  auto stub = LearnerStub(learner);
  Start("w1", "rollout_worker", WorkerArgs("w1", learner, reward));
  auto held_by_dead_worker = [&] {
    // Killed between a submission and its next lease, it held none: let it run and try again.
    for (int attempt = 0; attempt < 5; ++attempt) {
      auto st = WaitFor(
          stub.get(), [](const v1::LearnerStatus& x) { return x.policy_version() >= 1 && x.outstanding_leases() > 0; },
          300);
      Kill("w1");
      st = WaitFor(stub.get(), [](const v1::LearnerStatus&) { return true; }, 10);
      if (st.outstanding_leases() > 0) return true;
      Start("w1", "rollout_worker", WorkerArgs("w1", learner, reward));
    }
    return false;
  };
  ASSERT_TRUE(held_by_dead_worker());
  const auto restarted = Clock::now();
  Start("w1", "rollout_worker", WorkerArgs("w1", learner, reward));
  auto s = WaitFor(stub.get(), [](const v1::LearnerStatus& st) { return st.finished(); }, 120);
  EXPECT_TRUE(s.finished());
  EXPECT_EQ(s.policy_version(), 6);
  EXPECT_GT(s.leases_released(), 0);
  EXPECT_EQ(s.leases_expired(), 0);
  EXPECT_NE(LogText("learner").find("released (the worker no longer holds it)"), std::string::npos);
  EXPECT_LT(std::chrono::duration<double>(Clock::now() - restarted).count(), 120);
}

// Two live worker processes started under one --worker-id (a copied config, a fixed id in a
// scaled deployment) would release each other's leases on every call. The one whose id was
// taken over is refused when it asks again and exits with the reason; the run goes on.
TEST_F(FaultTest, TwoLiveWorkersUnderOneIdLeaveOneRunningAndStopTheOtherWithTheReason) {
  const int reward = Start("reward", "reward_server", {"--listen", "127.0.0.1:0"}).grpc;
  const int learner = Start("learner", "learner",
                            {"--config", LearnerConfig(6, "lease_timeout_ms: 600000"), "--out", (dir_ / "run").string()})
                          .grpc;
  auto stub = LearnerStub(learner);
  Start("first", "rollout_worker", WorkerArgs("w1", learner, reward));
  Start("second", "rollout_worker", WorkerArgs("w1", learner, reward));
  auto s = WaitFor(stub.get(), [](const v1::LearnerStatus& st) { return st.finished(); }, 180);
  EXPECT_TRUE(s.finished());
  EXPECT_EQ(s.policy_version(), 6);
  const std::string reason = "\"w1\" is in use by another live worker process";
  // The worker taken over learns it at its next Lease call, which may come after the run's end.
  const auto by = Clock::now() + std::chrono::seconds(30);
  while (Clock::now() < by && LogText("first").find(reason) == std::string::npos &&
         LogText("second").find(reason) == std::string::npos) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  int refused = 0;
  for (const std::string name : {"first", "second"}) {
    if (LogText(name).find(reason) == std::string::npos) continue;
    ++refused;
    const auto until = Clock::now() + std::chrono::seconds(30);
    while (!Proc(name).Poll() && Clock::now() < until) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    EXPECT_FALSE(Proc(name).Poll() && Proc(name).exited_cleanly()) << name << " refused but exited 0";
    EXPECT_TRUE(Proc(name).Poll()) << name << " refused but still running";
  }
  EXPECT_EQ(refused, 1) << LogText("first") << "\n---\n" << LogText("second");
  EXPECT_NE(LogText("learner").find("two live processes share this worker_id"), std::string::npos);
}

TEST_F(FaultTest, AKilledLearnerResumesFromItsCheckpointAndWorkersReconnect) {
  const int reward = Start("reward", "reward_server", {"--listen", "127.0.0.1:0"}).grpc;
  const int port = FreePort();
  const std::string listen = "127.0.0.1:" + std::to_string(port);
  const std::vector<std::string> learner_args = {"--config", LearnerConfig(6), "--out", (dir_ / "run").string(),
                                                 "--listen", listen};
  Start("learner", "learner", learner_args);
  auto stub = LearnerStub(port);
  Start("w1", "rollout_worker", WorkerArgs("w1", port, reward));
  auto s = WaitFor(stub.get(), [](const v1::LearnerStatus& st) { return st.policy_version() >= 3; }, 300);
  ASSERT_GE(s.policy_version(), 3);
  Kill("learner");
  // checkpoint_every is 1: the newest checkpoint is the version it had reached (or the one
  // before, if the kill landed mid-checkpoint).
  std::ifstream latest(dir_ / "run" / "checkpoints" / "latest");
  std::string name;
  latest >> name;
  const int64_t checkpointed = std::stoll(name.substr(1));
  EXPECT_GE(checkpointed, s.policy_version() - 1);
  Start("learner", "learner", learner_args);
  // The first status after the restart (the client's channel reconnects by itself).
  const auto serving = Clock::now();
  auto resumed = WaitFor(stub.get(), [](const v1::LearnerStatus&) { return true; }, 60);
  EXPECT_EQ(resumed.policy_version(), checkpointed);
  // The worker finds the restarted learner at once: its retries wait for the channel to
  // connect rather than sleeping through a backoff (before, 10-20 s went by: nothing polled
  // the channel between calls but gRPC's 5 s backup poller).
  const int64_t accepted_at_resume = resumed.groups_accepted();
  s = WaitFor(
      stub.get(), [&](const v1::LearnerStatus& st) { return st.groups_accepted() > accepted_at_resume; }, 60);
  const double back_s = std::chrono::duration<double>(Clock::now() - serving).count();
  EXPECT_LT(back_s, 8.0) << "the first group after the restart came " << back_s << " s after the learner served";
  // The worker was never restarted: it reconnects by itself and training finishes.
  s = WaitFor(stub.get(), [](const v1::LearnerStatus& st) { return st.finished(); }, 300);
  EXPECT_TRUE(s.finished());
  EXPECT_EQ(s.policy_version(), 6);
  // No admitted group counted twice: every update trained on exactly groups_per_update
  // groups, and groups_trained carries on from the checkpoint.
  EXPECT_EQ(s.groups_trained(), 6 * 2);
  // A group sampled under a lease the killed learner issued after its last checkpoint is
  // refused as late; nothing this worker sends is a malformed or forged group.
  EXPECT_EQ(s.groups_invalid(), 0);
  EXPECT_TRUE(Proc("w1").running() || Proc("w1").exited_cleanly()) << Proc("w1").ExitDescription();
  std::ifstream log(Log("learner"));
  std::string text((std::istreambuf_iterator<char>(log)), std::istreambuf_iterator<char>());
  EXPECT_NE(text.find("resumed from"), std::string::npos);
}

TEST_F(FaultTest, RewardServerDownDropsGroupsWithoutInventingRewardsAndTrainingContinuesWhenItReturns) {
  const int reward_port = FreePort();
  const std::vector<std::string> reward_args = {"--listen", "127.0.0.1:" + std::to_string(reward_port)};
  Start("reward", "reward_server", reward_args);
  const int learner = Start("learner", "learner",
                            {"--config", LearnerConfig(4, "lease_timeout_ms: 4000"), "--out", (dir_ / "run").string()})
                          .grpc;
  auto stub = LearnerStub(learner);
  const auto worker_ports = Start("w1", "rollout_worker", WorkerArgs("w1", learner, reward_port));
  auto s = WaitFor(stub.get(), [](const v1::LearnerStatus& st) { return st.policy_version() >= 1; }, 300);
  ASSERT_GE(s.policy_version(), 1);
  Kill("reward");
  // With no reward server the worker drops what it samples; the learner admits nothing.
  double failures = 0;
  const auto until = Clock::now() + std::chrono::seconds(120);
  while (Clock::now() < until && failures < 2) {
    failures = MetricValue(Scrape(worker_ports.metrics), "maskgrpo_worker_groups_total{outcome=\"reward_failure\"}");
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
  }
  EXPECT_GE(failures, 2);
  const auto during = GetStatus(stub.get());
  std::this_thread::sleep_for(std::chrono::seconds(2));
  const auto still = GetStatus(stub.get());
  EXPECT_EQ(still.groups_accepted() + still.groups_resampled() + still.groups_dropped(),
            during.groups_accepted() + during.groups_resampled() + during.groups_dropped())
      << "groups were admitted while no reward server was up";
  Start("reward", "reward_server", reward_args);
  s = WaitFor(stub.get(), [](const v1::LearnerStatus& st) { return st.finished(); }, 300);
  EXPECT_TRUE(s.finished());
  EXPECT_EQ(s.policy_version(), 4);
  // The only groups the learner may refuse are late ones: a group whose scoring outlived its
  // 4 s lease while the worker retried the absent reward server (seen under the sanitizers)
  // is refused and counted as late. Any other refusal (a malformed group, a wrong version)
  // is a defect.
  EXPECT_EQ(s.groups_invalid(), 0);
  EXPECT_LE(s.groups_late(), s.leases_expired());
  const std::string worker_log = LogText("w1");
  for (size_t at = worker_log.find("not admitted"); at != std::string::npos; at = worker_log.find("not admitted", at + 1)) {
    const std::string line = worker_log.substr(at, worker_log.find('\n', at) - at);
    EXPECT_NE(line.find("before its group arrived"), std::string::npos) << line;
  }
}

}  // namespace
}  // namespace maskgrpo
