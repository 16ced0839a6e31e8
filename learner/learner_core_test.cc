#include "learner/learner_core.h"

#include <gtest/gtest.h>
#include "core/torch_api.h"

#include <atomic>
#include <filesystem>
#include <fstream>
#include <thread>

namespace maskgrpo::learner {
namespace {

namespace fs = std::filesystem;

class LearnerCoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("learner_core_test_" + std::to_string(::getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    o_.train.init_model = std::string(MASKGRPO_SOURCE_DIR) + "/models/shapeworld_base.safetensors";
    o_.train.out_dir = dir_.string();
    o_.train.device = {"cpu", "float32"};
    o_.train.learner.transition = Transition::kCandidate2;
    o_.train.learner.guidance = 2.0;
    o_.train.rollout.steps = 4;
    o_.train.rollout.guidance = 2.0;
    o_.train.group_size = 4;
    o_.train.groups_per_update = 2;
    o_.train.updates = 3;
    o_.train.learner.minibatches = 1;
    o_.train.learner.total_updates = 3;
    o_.train.eval.prompts_per_task = 1;
    o_.train.eval.images_per_prompt = 2;
    o_.train.eval.sampling.steps = 4;
    o_.train.eval.grid_images = 0;
    o_.train.eval_every = 0;
    o_.train.checkpoint_every = 1;
    o_.max_policy_lag = 0;
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::unique_ptr<LearnerCore> Make() {
    auto core = LearnerCore::Create(o_, LearnerHooks{});
    EXPECT_TRUE(core.ok()) << core.status().ToString();
    return std::move(*core);
  }

  // A well-formed group for `lease` (random but in range) with the given rewards.
  Submission Group(const LeaseGrant& lease, int64_t version, std::vector<double> rewards) {
    const int64_t G = o_.train.group_size, N = 64, T = o_.train.rollout.steps;
    Submission s;
    s.lease_id = lease.lease_id;
    s.worker_id = "w";
    s.policy_version = version;
    s.trajectories.steps = T;
    s.trajectories.tokens = torch::randint(0, 291, {G, N}, torch::kLong);
    s.trajectories.reveal_step = torch::randint(0, T, {G, N}, torch::kLong);
    s.trajectories.min_revealed_prob = torch::rand({G, T}) * 0.5 + 0.1;
    s.trajectories.logp_candidate1 = -torch::rand({G, T}) * 10;
    s.trajectories.logp_candidate2 = -torch::rand({G, T}) * 10;
    s.rewards = std::move(rewards);
    return s;
  }

  // A group for `lease_id`, whose lease expired, is refused as late and counted as late (a
  // slow worker), not as invalid (a malformed group).
  void ExpectRefusedAsLate(LearnerCore& core, const std::string& lease_id) {
    auto late = core.Submit(Group(LeaseGrant{lease_id, nullptr, 0}, 0, {0.1, 0.5, 0.9, 0.2}));
    EXPECT_EQ(late.status().code(), StatusCode::kFailedPrecondition);
    EXPECT_NE(late.status().message().find("before its group arrived"), std::string::npos)
        << late.status().ToString();
    auto s = core.GetStatus();
    EXPECT_EQ(s.counters.groups_late(), 1);
    EXPECT_EQ(s.counters.groups_invalid(), 0);
  }

  fs::path dir_;
  LearnerCoreOptions o_;
};

TEST_F(LearnerCoreTest, LeasesStayWithinTheStalenessWindow) {
  auto core = Make();
  auto first = core->Lease("w1", 8);
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(first->leases.size(), 2u);  // groups_per_update * (max_policy_lag + 1)
  auto more = core->Lease("w2", 8);
  ASSERT_TRUE(more.ok());
  EXPECT_TRUE(more->leases.empty());
  EXPECT_GT(more->retry_after_ms, 0);
  EXPECT_FALSE(core->Lease("", 1).ok());
  EXPECT_FALSE(core->Lease("w", 0).ok());
  // The id is kept until the worker is gone a lease timeout: bounded as in the fan-out calls.
  EXPECT_TRUE(core->Lease(std::string(256, 'w'), 1).ok());
  auto too_long = core->Lease(std::string(257, 'w'), 1);
  ASSERT_FALSE(too_long.ok());
  EXPECT_NE(too_long.status().message().find("worker_id"), std::string::npos) << too_long.status().ToString();
}

// Rollout noise follows the run's seed, not the worker: every lease names its sampling seed,
// the seeds differ from lease to lease (a resampled prompt too), and the same run seed hands
// out the same seeds while another seed hands out others.
TEST_F(LearnerCoreTest, LeasesCarrySamplingSeedsThatFollowTheRunSeed) {
  auto seeds_of = [&](uint64_t run_seed) {
    o_.train.seed = run_seed;
    auto core = Make();
    std::vector<uint64_t> seeds;
    auto first = core->Lease("w1", 8);
    EXPECT_TRUE(first.ok());
    for (const auto& l : first->leases) seeds.push_back(l.sampling_seed);
    // A zero-spread group sends its prompt back: the new lease gets a new seed.
    auto flat = core->Submit(Group(first->leases[0], 0, {0.5, 0.5, 0.5, 0.5}));
    EXPECT_TRUE(flat.ok() && *flat == SubmitOutcome::kResample);
    auto again = core->Lease("w2", 8);
    EXPECT_TRUE(again.ok());
    EXPECT_EQ(again->leases.size(), 1u);
    for (const auto& l : again->leases) seeds.push_back(l.sampling_seed);
    fs::remove_all(dir_);
    return seeds;
  };
  const auto a = seeds_of(1), b = seeds_of(1), c = seeds_of(2);
  ASSERT_EQ(a.size(), 3u);
  EXPECT_EQ(a, b);
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_NE(a[i], 0u);
    EXPECT_EQ(a[i], LeaseSamplingSeed(1, static_cast<int64_t>(i)));
    for (size_t j = 0; j < i; ++j) EXPECT_NE(a[i], a[j]);
    EXPECT_NE(a[i], c[i]);
  }
}

// The learner draws its prompts with the run's task_weights (the launcher's path to the same
// lever `train` has), and refuses weights that name no task of the world before starting.
TEST_F(LearnerCoreTest, LeasesFollowTheTaskWeights) {
  o_.train.groups_per_update = 16;
  o_.train.task_weights = {{"single_object", 0}, {"two_object", 0}, {"colors", 0}, {"position", 0}, {"color_attr", 0}};
  {
    auto core = Make();
    auto leases = core->Lease("w1", 16);
    ASSERT_TRUE(leases.ok());
    ASSERT_GE(leases->leases.size(), 8u);  // all 8 counting by chance: (1/6)^8
    for (const auto& l : leases->leases) EXPECT_EQ(l.prompt->tag, "counting") << l.prompt->text;
  }
  fs::remove_all(dir_);
  o_.train.task_weights = {{"cooking", 2.0}};
  auto bad = LearnerCore::Create(o_, LearnerHooks{});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("task_weights names 'cooking'"), std::string::npos) << bad.status().message();
  EXPECT_FALSE(fs::exists(dir_)) << "a refused learner wrote its run folder";
}

TEST_F(LearnerCoreTest, ALongPollLeaseAnswersWhenRoomOpensAndNotBefore) {
  using Clock = std::chrono::steady_clock;
  auto core = Make();
  auto first = core->Lease("w1", 8);
  ASSERT_TRUE(first.ok());
  ASSERT_EQ(first->leases.size(), 2u);  // the whole window
  EXPECT_EQ(core->Lease("w2", 1, -1).status().code(), StatusCode::kInvalidArgument);

  // Nothing happens: the call waits its whole wait_ms, then says "ask again now".
  const auto t0 = Clock::now();
  auto idle = core->Lease("w2", 1, 150);
  ASSERT_TRUE(idle.ok());
  EXPECT_TRUE(idle->leases.empty());
  EXPECT_EQ(idle->retry_after_ms, 1);
  EXPECT_GE(Clock::now() - t0, std::chrono::milliseconds(150));

  // A zero-spread group is resampled: the waiting call gets its prompt at once.
  std::atomic<bool> answered{false};
  StatusOr<LeaseBatch> waited = InvalidArgument("not answered");
  Clock::time_point answered_at;
  std::thread waiter([&] {
    waited = core->Lease("w2", 1, 4000);
    answered_at = Clock::now();
    answered = true;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_FALSE(answered.load()) << "a long poll answered with nothing to hand out";
  const auto submitted_at = Clock::now();
  auto flat = core->Submit(Group(first->leases[1], 0, {0.5, 0.5, 0.5, 0.5}));
  ASSERT_TRUE(flat.ok());
  ASSERT_EQ(*flat, SubmitOutcome::kResample);
  waiter.join();
  ASSERT_TRUE(waited.ok()) << waited.status().ToString();
  ASSERT_EQ(waited->leases.size(), 1u);
  EXPECT_EQ(waited->leases[0].prompt, first->leases[1].prompt);
  EXPECT_LT(answered_at - submitted_at, std::chrono::milliseconds(2000));

  // Stop wakes a waiting call, which answers empty.
  std::thread stopper([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    core->Stop();
  });
  const auto t1 = Clock::now();
  auto stopped = core->Lease("w3", 1, 4000);
  stopper.join();
  ASSERT_TRUE(stopped.ok());
  EXPECT_TRUE(stopped->leases.empty());
  EXPECT_LT(Clock::now() - t1, std::chrono::milliseconds(2000));
}

TEST_F(LearnerCoreTest, LongPollsBeyondMaxWaitingLeasesAreAnsweredAtOnce) {
  using Clock = std::chrono::steady_clock;
  o_.max_waiting_leases = 1;
  auto core = Make();
  auto first = core->Lease("w1", 8);
  ASSERT_TRUE(first.ok());
  ASSERT_EQ(first->leases.size(), 2u);  // the whole window: nothing left to hand out
  std::atomic<bool> answered{false};
  std::thread waiter([&] {
    auto held = core->Lease("w2", 1, 1000);
    EXPECT_TRUE(held.ok());
    answered = true;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  ASSERT_FALSE(answered.load()) << "the first long poll was not held";
  // The one waiting place is taken: the second call is answered now, with the usual retry hint.
  const auto t0 = Clock::now();
  auto second = core->Lease("w3", 1, 4000);
  ASSERT_TRUE(second.ok());
  EXPECT_TRUE(second->leases.empty());
  EXPECT_GT(second->retry_after_ms, 1);
  EXPECT_LT(Clock::now() - t0, std::chrono::milliseconds(1000));
  waiter.join();
  // The place is freed when that call stops waiting: a new call waits its whole wait_ms.
  const auto t1 = Clock::now();
  auto third = core->Lease("w3", 1, 300);
  ASSERT_TRUE(third.ok());
  EXPECT_EQ(third->retry_after_ms, 1);  // "ask again now": it waited
  EXPECT_GE(Clock::now() - t1, std::chrono::milliseconds(300));
  o_.max_waiting_leases = 0;
  EXPECT_TRUE(ValidateLearnerCoreOptions(o_).ok());
  o_.max_waiting_leases = -1;
  EXPECT_FALSE(ValidateLearnerCoreOptions(o_).ok());
}

TEST_F(LearnerCoreTest, SubmissionsAreCheckedFilteredAndCountedOnce) {
  auto core = Make();
  auto leases = core->Lease("w1", 8);
  ASSERT_TRUE(leases.ok());
  ASSERT_EQ(leases->leases.size(), 2u);
  const auto before = core->GetStatus();

  // Malformed: token out of range, wrong group size, wrong version, unknown lease.
  auto bad = Group(leases->leases[0], 0, {0.1, 0.5, 0.9, 0.2});
  bad.trajectories.tokens[0][0] = 5000;
  auto r = core->Submit(bad);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("tokens"), std::string::npos);
  auto small = Group(leases->leases[0], 0, {0.1, 0.5, 0.9});
  small.trajectories.tokens = small.trajectories.tokens.slice(0, 0, 3);
  EXPECT_EQ(core->Submit(small).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(core->Submit(Group(leases->leases[0], 1, {0.1, 0.5, 0.9, 0.2})).status().code(),
            StatusCode::kInvalidArgument);
  LeaseGrant unknown{"nope", nullptr, 0};
  EXPECT_EQ(core->Submit(Group(unknown, 0, {0.1, 0.5, 0.9, 0.2})).status().code(), StatusCode::kFailedPrecondition);
  auto after_bad = core->GetStatus();
  EXPECT_EQ(after_bad.queued_groups, before.queued_groups);
  EXPECT_EQ(after_bad.outstanding_leases, before.outstanding_leases);
  EXPECT_EQ(after_bad.counters.groups_accepted(), 0);
  EXPECT_EQ(after_bad.counters.groups_invalid(), 4);

  // Good, then the same again: counted once.
  auto good = Group(leases->leases[0], 0, {0.1, 0.5, 0.9, 0.2});
  auto again = good;
  auto ok = core->Submit(std::move(good));
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_EQ(*ok, SubmitOutcome::kAccepted);
  auto dup = core->Submit(std::move(again));
  ASSERT_TRUE(dup.ok());
  EXPECT_EQ(*dup, SubmitOutcome::kDuplicate);
  // Zero spread carries no signal: never trained on.
  auto flat = core->Submit(Group(leases->leases[1], 0, {0.5, 0.5, 0.5, 0.5}));
  ASSERT_TRUE(flat.ok());
  EXPECT_NE(*flat, SubmitOutcome::kAccepted);
  auto s = core->GetStatus();
  EXPECT_EQ(s.queued_groups, 1);
  EXPECT_EQ(s.outstanding_leases, 0);
  EXPECT_EQ(s.counters.groups_accepted(), 1);
  EXPECT_EQ(s.counters.groups_duplicate(), 1);
}

TEST_F(LearnerCoreTest, ExpiredLeasesAreReissued) {
  o_.lease_timeout_ms = 30;
  auto core = Make();
  auto first = core->Lease("w1", 1);
  ASSERT_TRUE(first.ok() && first->leases.size() == 1);
  std::this_thread::sleep_for(std::chrono::milliseconds(80));
  auto second = core->Lease("w2", 1);
  ASSERT_TRUE(second.ok() && second->leases.size() == 1);
  EXPECT_EQ(second->leases[0].prompt, first->leases[0].prompt);  // the same prompt, re-issued
  EXPECT_NE(second->leases[0].lease_id, first->leases[0].lease_id);
  EXPECT_EQ(core->GetStatus().counters.leases_expired(), 1);
  ExpectRefusedAsLate(*core, first->leases[0].lease_id);
  EXPECT_EQ(core->GetStatus().outstanding_leases, 1);  // the re-issued lease is untouched
  // A lease id never issued stays invalid.
  auto unknown = core->Submit(Group(LeaseGrant{"nope", nullptr, 0}, 0, {0.1, 0.5, 0.9, 0.2}));
  EXPECT_EQ(unknown.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(unknown.status().message().find("unknown lease"), std::string::npos) << unknown.status().ToString();
  EXPECT_EQ(core->GetStatus().counters.groups_invalid(), 1);
  EXPECT_EQ(core->GetStatus().counters.groups_late(), 1);
}

// A worker that reports the leases it holds gets the others released at once (a restarted
// worker, a reply it never saw, a group it dropped), instead of waiting out the timeout.
TEST_F(LearnerCoreTest, LeasesItsWorkerNoLongerHoldsAreReleasedAtOnce) {
  o_.lease_timeout_ms = 600000;
  auto core = Make();
  auto first = core->Lease("w1", 2);
  ASSERT_TRUE(first.ok() && first->leases.size() == 2);
  const LeaseGrant kept = first->leases[0], dropped = first->leases[1];
  auto blocked = core->Lease("w2", 1);  // the window (2 groups at lag 0) is full
  ASSERT_TRUE(blocked.ok());
  EXPECT_TRUE(blocked->leases.empty());
  // Bad reports are refused before anything changes.
  const std::vector<std::string> too_many(kMaxHeldLeases + 1, kept.lease_id);
  const std::vector<std::string> empty_id = {kept.lease_id, ""};
  const std::vector<std::string> long_id = {std::string(kMaxLeaseIdChars + 1, 'x')};
  for (const auto* bad : {&too_many, &empty_id, &long_id}) {
    auto refused = core->Lease("w1", 1, 0, bad);
    EXPECT_EQ(refused.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(refused.status().message().find("held_lease_ids"), std::string::npos) << refused.status().ToString();
    EXPECT_EQ(core->GetStatus().outstanding_leases, 2);
    EXPECT_EQ(core->GetStatus().counters.leases_released(), 0);
  }
  // Without a report (an older worker) nothing is released.
  ASSERT_TRUE(core->Lease("w1", 1).ok());
  EXPECT_EQ(core->GetStatus().outstanding_leases, 2);
  // w1 still holds `kept` only; an id the learner never issued is ignored.
  const std::vector<std::string> held = {kept.lease_id, "never-issued"};
  auto report = core->Lease("w1", 1, 0, &held);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(report->released, 1);
  EXPECT_TRUE(report->leases.empty());  // its fair share (1 of 2 workers) is `kept`
  auto s = core->GetStatus();
  EXPECT_EQ(s.counters.leases_released(), 1);
  EXPECT_EQ(s.counters.leases_expired(), 0);
  EXPECT_EQ(s.outstanding_leases, 1);
  // The released prompt goes to the next worker that asks, before any new prompt.
  auto reissued = core->Lease("w2", 1);
  ASSERT_TRUE(reissued.ok() && reissued->leases.size() == 1);
  EXPECT_EQ(reissued->leases[0].prompt, dropped.prompt);
  ExpectRefusedAsLate(*core, dropped.lease_id);
  // Another worker's report never touches w1's lease, and the same report releases nothing twice.
  const std::vector<std::string> none;
  auto other = core->Lease("w3", 1, 0, &none);
  ASSERT_TRUE(other.ok());
  EXPECT_EQ(other->released, 0);
  auto again = core->Lease("w1", 1, 0, &held);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->released, 0);
  EXPECT_EQ(core->GetStatus().outstanding_leases, 2);
  EXPECT_EQ(core->GetStatus().counters.leases_released(), 1);
}

// Two live processes under one worker_id would release each other's leases with every call.
// A process that asks again after another instance took over its id is refused, and nothing
// of the newer instance's is released; a restart (a new instance) is not refused.
TEST_F(LearnerCoreTest, AWorkerIdSharedByTwoLiveProcessesIsRefusedAndReleasesNothing) {
  o_.lease_timeout_ms = 600000;
  auto core = Make();
  const std::vector<std::string> none;
  auto old_process = core->Lease("w1", 1, 0, &none, "instance-a");
  ASSERT_TRUE(old_process.ok() && old_process->leases.size() == 1) << old_process.status().ToString();
  // A second process under w1 (or a restart: the learner cannot tell yet) takes the id over;
  // instance-a's lease, which it does not report, is released.
  auto new_process = core->Lease("w1", 1, 0, &none, "instance-b");
  ASSERT_TRUE(new_process.ok()) << new_process.status().ToString();
  EXPECT_EQ(new_process->released, 1);
  ASSERT_EQ(new_process->leases.size(), 1u);
  const std::vector<std::string> held_by_b = {new_process->leases[0].lease_id};
  // instance-a asks again: two live processes. Refused, and instance-b's lease stays.
  auto clash = core->Lease("w1", 1, 0, &none, "instance-a");
  EXPECT_EQ(clash.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(clash.status().message().find("\"w1\" is in use by another live worker process"), std::string::npos)
      << clash.status().ToString();
  EXPECT_NE(clash.status().message().find("instance-b"), std::string::npos) << clash.status().ToString();
  EXPECT_EQ(core->GetStatus().outstanding_leases, 1);
  EXPECT_EQ(core->GetStatus().counters.leases_released(), 1);
  // instance-b goes on; so does a restart of it (a new instance), which replaces it in turn.
  auto b_again = core->Lease("w1", 1, 0, &held_by_b, "instance-b");
  ASSERT_TRUE(b_again.ok()) << b_again.status().ToString();
  EXPECT_EQ(b_again->released, 0);
  auto restarted = core->Lease("w1", 1, 0, &held_by_b, "instance-c");
  ASSERT_TRUE(restarted.ok()) << restarted.status().ToString();
  EXPECT_EQ(core->Lease("w1", 1, 0, &held_by_b, "instance-b").status().code(), StatusCode::kInvalidArgument);
  // Other ids and workers that send no instance are not affected.
  EXPECT_TRUE(core->Lease("w2", 1, 0, &none, "instance-a").ok());
  EXPECT_TRUE(core->Lease("w1", 1, 0, &held_by_b).ok());
  // An instance token beyond the bound is refused by name.
  auto long_instance = core->Lease("w3", 1, 0, &none, std::string(kMaxWorkerInstanceChars + 1, 'i'));
  EXPECT_EQ(long_instance.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(long_instance.status().message().find("worker_instance"), std::string::npos);
}

// After a learner restart the checkpoint's outstanding leases come back; those whose groups
// the lost incarnation had already admitted are held by nobody, and are released as soon as
// their worker reports what it holds (before, they blocked the window until they expired).
TEST_F(LearnerCoreTest, RestoredLeasesTheirWorkerNoLongerHoldsAreReleasedAfterARestart) {
  o_.lease_timeout_ms = 600000;
  // Stops and joins a core's owner thread on every way out of a scope, a failed ASSERT
  // included (a joinable std::thread left behind would abort the whole test binary).
  struct OwnerThread {
    LearnerCore* core;
    std::thread thread;
    ~OwnerThread() {
      core->Stop();  // writes a checkpoint
      thread.join();
    }
  };
  std::vector<std::string> ids, texts;  // the first core's prompts die with it: keep their text
  {
    auto core = Make();
    OwnerThread owner{core.get(), std::thread([&] { EXPECT_TRUE(core->Run().ok()); })};
    auto first = core->Lease("w1", 2);
    ASSERT_TRUE(first.ok() && first->leases.size() == 2);
    for (const auto& l : first->leases) ids.push_back(l.lease_id), texts.push_back(l.prompt->text);
  }  // the checkpoint holds both leases as outstanding
  auto core = Make();
  OwnerThread owner{core.get(), std::thread([&] { EXPECT_TRUE(core->Run().ok()); })};
  EXPECT_EQ(core->GetStatus().outstanding_leases, 2);
  auto blocked = core->Lease("w2", 1);
  ASSERT_TRUE(blocked.ok());
  EXPECT_TRUE(blocked->leases.empty());
  const std::vector<std::string> held = {ids[0]};
  auto report = core->Lease("w1", 1, 0, &held);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(report->released, 1);
  auto reissued = core->Lease("w2", 1);
  ASSERT_TRUE(reissued.ok() && reissued->leases.size() == 1);
  EXPECT_EQ(reissued->leases[0].prompt->text, texts[1]);
}

// A group for a lease that expired before a restart is late after it too (not an unknown
// lease, which is counted as invalid): the checkpoint keeps the expired lease ids.
TEST_F(LearnerCoreTest, ALeaseExpiredBeforeARestartIsLateAfterIt) {
  o_.lease_timeout_ms = 30;
  std::string expired;
  {
    auto core = Make();
    std::thread owner([&] { EXPECT_TRUE(core->Run().ok()); });
    auto first = core->Lease("w1", 1);
    ASSERT_TRUE(first.ok() && first->leases.size() == 1);
    expired = first->leases[0].lease_id;
    std::this_thread::sleep_for(std::chrono::milliseconds(80));
    ASSERT_TRUE(core->Lease("w2", 1).ok());  // expires the first lease, re-issues its prompt
    ASSERT_EQ(core->GetStatus().counters.leases_expired(), 1);
    core->Stop();  // writes a checkpoint
    owner.join();
  }
  auto core = Make();
  std::thread owner([&] { EXPECT_TRUE(core->Run().ok()); });
  ExpectRefusedAsLate(*core, expired);
  core->Stop();
  owner.join();
}

// A learner killed after handing out a lease but before its next checkpoint comes back
// without any record of that lease. Its group is the crash's lost work, refused as late with
// the reason, not counted as an invalid (malformed or forged) group; also when the process
// that issued it had itself resumed from that checkpoint (or started fresh) and died before
// writing one: the ledger's start lines name it. A destroyed core that never ran is a kill.
TEST_F(LearnerCoreTest, GroupsOfLeasesLostWithACrashedLearnerAreLateNotInvalid) {
  auto lease = [](LearnerCore& core, const std::string& worker) {
    auto l = core.Lease(worker, 1);
    EXPECT_TRUE(l.ok() && l->leases.size() == 1) << l.status().ToString();
    return l.ok() && !l->leases.empty() ? l->leases[0].lease_id : std::string();
  };
  auto submit = [&](LearnerCore& core, const std::string& lease_id) {
    return core.Submit(Group(LeaseGrant{lease_id, nullptr, 0}, 0, {0.1, 0.5, 0.9, 0.2})).status();
  };
  auto incarnation_of = [](const std::string& lease_id) { return lease_id.substr(0, lease_id.rfind('-')); };
  std::string fresh_lost;
  {
    auto a = Make();  // a fresh start that dies before its first checkpoint
    fresh_lost = lease(*a, "w1");
  }
  std::string checkpointer;
  {
    auto b = Make();  // starts fresh too
    std::thread owner([&] { EXPECT_TRUE(b->Run().ok()); });
    const Status lost = submit(*b, fresh_lost);
    EXPECT_EQ(lost.code(), StatusCode::kFailedPrecondition);
    EXPECT_NE(lost.message().find("was issued by an earlier learner process"), std::string::npos) << lost.ToString();
    EXPECT_EQ(b->GetStatus().counters.groups_late(), 1);
    EXPECT_EQ(b->GetStatus().counters.groups_invalid(), 0);
    checkpointer = incarnation_of(lease(*b, "w1"));  // lease number 1 of this process
    b->Stop();  // the checkpoint: 1 lease issued
    owner.join();
  }
  std::string sibling_lost;
  {
    auto c = Make();  // resumes from b's checkpoint, hands out lease number 2, dies
    sibling_lost = lease(*c, "w2");
    EXPECT_EQ(sibling_lost.substr(sibling_lost.rfind('-')), "-2") << sibling_lost;
  }
  auto d = Make();  // resumes from the same checkpoint
  std::thread owner([&] { EXPECT_TRUE(d->Run().ok()); });
  const int64_t late_before = d->GetStatus().counters.groups_late();
  const int64_t invalid_before = d->GetStatus().counters.groups_invalid();
  // Lost: b's next lease, c's, and a's (carried in b's checkpoint).
  for (const std::string& lost : {checkpointer + "-2", sibling_lost, fresh_lost}) {
    const Status refused = submit(*d, lost);
    EXPECT_EQ(refused.code(), StatusCode::kFailedPrecondition) << lost;
    EXPECT_NE(refused.message().find("was issued by an earlier learner process"), std::string::npos)
        << refused.ToString();
  }
  EXPECT_EQ(d->GetStatus().counters.groups_late(), late_before + 3);
  // Ids that no lost process issued stay invalid: not numbered beyond the checkpoint, not
  // numbers, an incarnation that never ran.
  for (const std::string bogus : {checkpointer + "-0", checkpointer + "-x", checkpointer + "-", std::string("feedface-2"),
                                  checkpointer + "-99999999999999999999"}) {
    const Status refused = submit(*d, bogus);
    EXPECT_EQ(refused.code(), StatusCode::kFailedPrecondition) << bogus;
    EXPECT_NE(refused.message().find("unknown lease"), std::string::npos) << refused.ToString();
  }
  EXPECT_EQ(d->GetStatus().counters.groups_late(), late_before + 3);
  EXPECT_EQ(d->GetStatus().counters.groups_invalid(), invalid_before + 5);
  EXPECT_EQ(d->GetStatus().queued_groups, 0);
  d->Stop();  // a checkpoint of d's: it carries what d knew was lost
  owner.join();
  d.reset();
  // Two restarts later, a group of c's lease (a worker paused all that time) is still late.
  auto e = Make();
  std::thread e_owner([&] { EXPECT_TRUE(e->Run().ok()); });
  const Status still_lost = submit(*e, sibling_lost);
  EXPECT_NE(still_lost.message().find("was issued by an earlier learner process"), std::string::npos)
      << still_lost.ToString();
  EXPECT_EQ(e->GetStatus().counters.groups_late(), late_before + 4);
  EXPECT_EQ(e->GetStatus().counters.groups_invalid(), invalid_before + 5);
  e->Stop();
  e_owner.join();
}

TEST_F(LearnerCoreTest, UpdatesPublishWeightsAndResumeKeepsLeasesAndCounters) {
  std::string lease_kept;
  double eval_before = -1;
  {
    auto core = Make();
    std::thread owner([&] { EXPECT_TRUE(core->Run().ok()); });
    // Two accepted groups make one update.
    for (int i = 0; i < 2; ++i) {
      auto l = core->Lease("w1", 1);
      ASSERT_TRUE(l.ok() && l->leases.size() == 1);
      auto r = core->Submit(Group(l->leases[0], l->version, {0.0, 0.3, 0.6, 1.0}));
      ASSERT_TRUE(r.ok()) << r.status().ToString();
    }
    for (int i = 0; i < 600 && core->GetStatus().version < 1; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    ASSERT_EQ(core->GetStatus().version, 1);
    ASSERT_NE(core->Weights(1), nullptr);
    auto l = core->Lease("w1", 1);  // outstanding at the stop: must survive it
    ASSERT_TRUE(l.ok() && l->leases.size() == 1);
    lease_kept = l->leases[0].lease_id;
    eval_before = core->GetStatus().last_eval_overall;
    ASSERT_EQ(core->GetStatus().last_eval_version, 0);  // the eval before training
    core->Stop();
    owner.join();
  }
  auto core = Make();
  std::thread owner([&] { EXPECT_TRUE(core->Run().ok()); });
  for (int i = 0; i < 600 && !core->Weights(1); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  auto s = core->GetStatus();
  EXPECT_EQ(s.version, 1);
  EXPECT_EQ(s.counters.groups_accepted(), 2);
  EXPECT_EQ(s.outstanding_leases, 1);
  EXPECT_EQ(s.last_eval_version, 0);  // from the run folder, not "none" until the next eval
  EXPECT_DOUBLE_EQ(s.last_eval_overall, eval_before);
  // The lease handed out before the restart is still valid.
  auto r = core->Submit(Group(LeaseGrant{lease_kept, nullptr, 0}, 1, {0.0, 0.3, 0.6, 1.0}));
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  core->Stop();
  owner.join();
}

// A learner stopped between the policy's final evaluation and its moving average's: started
// again on the finished run folder, it evaluates only the average and finishes.
TEST_F(LearnerCoreTest, AResumedFinishedRunEvaluatesOnlyWhatIsMissing) {
  o_.train.updates = o_.train.learner.total_updates = 1;
  o_.train.learner.ema_decay = 0.5;
  {
    auto core = Make();
    std::thread owner([&] { EXPECT_TRUE(core->Run().ok()); });
    for (int i = 0; i < 2; ++i) {
      auto l = core->Lease("w1", 1);
      ASSERT_TRUE(l.ok() && l->leases.size() == 1);
      ASSERT_TRUE(core->Submit(Group(l->leases[0], l->version, {0.0, 0.3, 0.6, 1.0})).ok());
    }
    owner.join();  // the run finishes by itself after its one update
    ASSERT_TRUE(core->GetStatus().finished);
  }
  const std::string policy_eval = dir_.string() + "/eval/v000001/eval.json";
  ASSERT_TRUE(fs::exists(policy_eval));
  ASSERT_TRUE(fs::exists(dir_ / "eval_ema/v000001/eval.json"));
  fs::remove_all(dir_ / "eval_ema/v000001");
  const auto policy_eval_time = fs::last_write_time(policy_eval);
  auto core = Make();
  ASSERT_TRUE(core->Run().ok());
  EXPECT_TRUE(core->GetStatus().finished);
  EXPECT_TRUE(fs::exists(dir_ / "eval_ema/v000001/eval.json"));
  EXPECT_EQ(fs::last_write_time(policy_eval), policy_eval_time);
  EXPECT_EQ(core->GetStatus().last_eval_version, 1);  // from the run folder
}

std::vector<Json> LedgerLines(const fs::path& path, int* torn) {
  std::ifstream in(path);
  std::vector<Json> out;
  std::string line;
  while (std::getline(in, line)) {
    auto j = Json::Parse(line);
    if (j.ok() && j->is_object()) {
      out.push_back(*j);
    } else {
      ++*torn;
    }
  }
  return out;
}

std::vector<std::string> Strings(const Json& a) {
  std::vector<std::string> out;
  for (const auto& x : a.as_array()) out.push_back(x.as_string());
  return out;
}

TEST_F(LearnerCoreTest, TheLedgerRecordsAdmissionsUpdatesSnapshotsAndTheResumedQueue) {
  std::vector<std::string> trained, queued;
  {
    auto core = Make();
    std::thread owner([&] { EXPECT_TRUE(core->Run().ok()); });
    for (int i = 0; i < 2; ++i) {
      auto l = core->Lease("w1", 1);
      ASSERT_TRUE(l.ok() && l->leases.size() == 1);
      trained.push_back(l->leases[0].lease_id);
      ASSERT_TRUE(core->Submit(Group(l->leases[0], l->version, {0.0, 0.3, 0.6, 1.0})).ok());
    }
    for (int i = 0; i < 600 && core->GetStatus().version < 1; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    ASSERT_EQ(core->GetStatus().version, 1);
    // The checkpoint of version 1 is committed (its ledger line written) before the next admission.
    for (int i = 0; i < 600; ++i) {
      int ignored = 0;
      if (LedgerLines(dir_ / "ledger.jsonl", &ignored).size() >= 6) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    auto l = core->Lease("w1", 1);  // admitted, not trained: must come back queued
    ASSERT_TRUE(l.ok() && l->leases.size() == 1);
    ASSERT_TRUE(core->Submit(Group(l->leases[0], l->version, {0.0, 0.3, 0.6, 1.0})).ok());
    queued.push_back(l->leases[0].lease_id);
    core->Stop();
    owner.join();
  }
  {
    std::ofstream torn(dir_ / "ledger.jsonl", std::ios::app);
    torn << "{\"event\": \"adm";  // a line cut short by a crash
  }
  auto core = Make();  // resumes: writes its start line
  int torn = 0;
  auto lines = LedgerLines(dir_ / "ledger.jsonl", &torn);
  EXPECT_EQ(torn, 1);
  std::vector<std::string> events;
  for (const auto& j : lines) events.push_back(j.Find("event")->as_string());
  const std::vector<std::string> expected = {"start", "admit", "admit", "update", "checkpoint_snapshot", "checkpoint",
                                             "admit", "checkpoint_snapshot", "checkpoint", "stopped", "start"};
  ASSERT_EQ(events, expected);
  const std::string first_inc = lines[0].Find("inc")->as_string();
  EXPECT_TRUE(lines[0].Find("resumed_from")->type() == Json::Type::kNull);
  EXPECT_EQ(lines[1].Find("lease")->as_string(), trained[0]);
  EXPECT_EQ(Strings(*lines[3].Find("leases")), trained);
  EXPECT_EQ(lines[3].Find("version")->as_number(), 1);
  EXPECT_EQ(Strings(*lines[7].Find("queued")), queued);
  const Json& start = lines.back();
  EXPECT_NE(start.Find("inc")->as_string(), first_inc);
  EXPECT_EQ(start.Find("version")->as_number(), 1);
  EXPECT_EQ(start.Find("resumed_from")->Find("incarnation")->as_string(), first_inc);
  EXPECT_EQ(start.Find("resumed_from")->Find("seq")->as_number(), lines[7].Find("seq")->as_number());
  EXPECT_EQ(Strings(*start.Find("queued")), queued);  // the lease id survived the checkpoint

  auto verified = LearnerCore::VerifyCheckpoint(o_, (dir_ / "checkpoints" / "v000001").string());
  ASSERT_TRUE(verified.ok()) << verified.status().ToString();
  EXPECT_TRUE(verified->Find("ok")->as_bool()) << verified->Dump();
  EXPECT_GT(verified->Find("optimizer_tensors")->as_number(), 0) << verified->Dump();
  EXPECT_EQ(verified->Find("queued_groups")->as_number(), 1);
  EXPECT_FALSE(LearnerCore::VerifyCheckpoint(o_, (dir_ / "checkpoints" / "v000099").string()).ok());
}

TEST(LedgerTest, IncarnationsResumedFromReadOnlyWellFormedStartLines) {
  const fs::path path = fs::temp_directory_path() / ("maskgrpo_ledger_" + std::to_string(::getpid()) + ".jsonl");
  {
    std::ofstream out(path);
    out << R"({"event":"start","inc":"a","resumed_from":null})" << "\n"
        << R"({"event":"admit","inc":"a","lease":"start"})" << "\n"
        << R"({"event":"start","inc":"b","resumed_from":{"incarnation":"a","seq":3,"version":2}})" << "\n"
        << R"({"event":"start","inc":"c","resumed_from":{"incarnation":"a","seq":4,"version":2}})" << "\n"
        << R"({"event":"start","inc":"d","resumed_from":{"incarnation":"a","seq":3}})" << "\n"
        << R"({"event":"start","inc":"e","resumed_from":{"incarnation":"a","se)" << "\n"  // torn
        << R"({"event":"start","inc":7,"resumed_from":null})" << "\n"
        << R"(["start"])" << "\n"
        << R"({"event":"start","inc":"f"})" << "\n"
        << R"({"event":"start","inc":"g","resumed_from":{"incarnation":"a","seq":1e300}})" << "\n";
  }
  auto from_a3 = IncarnationsResumedFrom(path.string(), "a", 3);
  ASSERT_TRUE(from_a3.ok()) << from_a3.status().ToString();
  EXPECT_EQ(*from_a3, (std::set<std::string>{"b", "d"}));
  auto fresh = IncarnationsResumedFrom(path.string(), "", 0);
  ASSERT_TRUE(fresh.ok());
  EXPECT_EQ(*fresh, (std::set<std::string>{"a", "f"}));
  auto none = IncarnationsResumedFrom((path.string() + ".missing"), "a", 3);
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
  fs::remove(path);
}

TEST(FailpointTest, NamedPausesFireOnlyWhenSetAndArmed) {
  const auto arm = fs::temp_directory_path() / ("failpoint_test_" + std::to_string(::getpid()));
  fs::remove_all(arm);
  fs::create_directories(arm);
  ::unsetenv("MASKGRPO_FAILPOINT_ARM_DIR");
  ::setenv("MASKGRPO_FAILPOINT", "swap_weights_after_crc,checkpoint_pause:70", 1);
  EXPECT_EQ(FailpointPauseMs("checkpoint_pause"), 70);
  EXPECT_EQ(FailpointPauseMs("weights_pause"), 0);
  ::setenv("MASKGRPO_FAILPOINT_ARM_DIR", arm.c_str(), 1);
  EXPECT_EQ(FailpointPauseMs("checkpoint_pause"), 0);  // not armed
  std::ofstream(arm / "checkpoint_pause").put('\n');
  EXPECT_EQ(FailpointPauseMs("checkpoint_pause"), 70);
  ::unsetenv("MASKGRPO_FAILPOINT");
  ::unsetenv("MASKGRPO_FAILPOINT_ARM_DIR");
  EXPECT_EQ(FailpointPauseMs("checkpoint_pause"), 0);
  fs::remove_all(arm);
}

TEST(LeaseRoomTest, OnlyGroupsALaterBatchCanTakeAreHandedOut) {
  LeaseRoomInputs in;
  in.groups_per_update = 8;
  in.remaining_groups = 480;
  in.max_policy_lag = 0;
  EXPECT_EQ(LeaseRoom(in), 8);
  in.usable_in_flight = 3;
  EXPECT_EQ(LeaseRoom(in), 5);
  in.updating = true;  // lag 0: the running update's batch is taken, nothing left to fill
  EXPECT_EQ(LeaseRoom(in), 0);
  in.max_policy_lag = 1;  // the next batch only
  EXPECT_EQ(LeaseRoom(in), 5);
  in.updating = false;  // this batch and the next
  EXPECT_EQ(LeaseRoom(in), 13);
  in.remaining_groups = 4;  // the end of the run
  EXPECT_EQ(LeaseRoom(in), 1);
  in.usable_in_flight = 20;
  EXPECT_EQ(LeaseRoom(in), 0);
}

TEST(FairShareTest, EachActiveWorkerMayHoldItsPartOfTheWindow) {
  EXPECT_EQ(FairShare(8, 1, 0), 8);
  EXPECT_EQ(FairShare(8, 2, 0), 4);
  EXPECT_EQ(FairShare(8, 2, 3), 1);
  EXPECT_EQ(FairShare(8, 2, 5), 0);   // holds more than its part: nothing, not negative
  EXPECT_EQ(FairShare(8, 3, 0), 3);   // rounded up: the window is still filled
  EXPECT_EQ(FairShare(2, 16, 0), 1);  // more workers than groups: one each while it lasts
  EXPECT_EQ(FairShare(8, 0, 0), 8);
}

// A worker asking for a whole update does not starve another that is leasing too.
TEST_F(LearnerCoreTest, LeasesAreSplitBetweenActiveWorkers) {
  o_.train.groups_per_update = 4;
  o_.max_leases_per_request = 8;
  auto core = Make();
  auto a = core->Lease("a", 1);
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_EQ(a->leases.size(), 1u);
  auto b = core->Lease("b", 8);  // two workers now: half of the 4 each
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  EXPECT_EQ(b->leases.size(), 2u);
  auto a2 = core->Lease("a", 8);  // the rest of a's half
  ASSERT_TRUE(a2.ok()) << a2.status().ToString();
  EXPECT_EQ(a2->leases.size(), 1u);
  auto b2 = core->Lease("b", 8);  // the update's groups are all handed out
  ASSERT_TRUE(b2.ok()) << b2.status().ToString();
  EXPECT_EQ(b2->leases.size(), 0u);
  EXPECT_GT(b2->retry_after_ms, 0);
  EXPECT_EQ(core->GetStatus().outstanding_leases, 4);
}

// A worker that leases as fast as it can: at lag 0 every group it is given must be trained on,
// none sampled during an update only to arrive stale.
TEST_F(LearnerCoreTest, AtLagZeroNoLeaseIsIssuedThatCanOnlyArriveStale) {
  o_.max_policy_lag = 0;
  auto core = Make();
  std::thread owner([&] { EXPECT_TRUE(core->Run().ok()); });
  int64_t submitted = 0;
  for (int i = 0; i < 20000 && !core->GetStatus().finished && core->GetStatus().version < o_.train.updates; ++i) {
    auto l = core->Lease("greedy", 8);
    ASSERT_TRUE(l.ok()) << l.status().ToString();
    if (l->leases.empty()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
      continue;
    }
    // Sampling takes time: long enough for an update started meanwhile to publish.
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
    for (const auto& grant : l->leases) {
      auto r = core->Submit(Group(grant, l->version, {0.0, 0.3, 0.6, 1.0}));
      ASSERT_TRUE(r.ok()) << r.status().ToString();
      ++submitted;
    }
  }
  core->Stop();
  owner.join();
  const auto s = core->GetStatus();
  EXPECT_EQ(s.version, o_.train.updates);
  EXPECT_EQ(s.counters.groups_stale(), 0);
  EXPECT_EQ(submitted, o_.train.updates * o_.train.groups_per_update);
}

}  // namespace
}  // namespace maskgrpo::learner
