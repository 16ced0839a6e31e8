// Multi-process tests: the real reward_server, learner and rollout_worker binaries on
// loopback (ports chosen by the servers, announced in port files), driven over gRPC.
#include <gtest/gtest.h>
#include <grpcpp/client_context.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include "core/torch_api.h"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <thread>

#include "core/grpo/npy.h"
#include "core/json.h"
#include "core/safetensors.h"
#include "core/shapeworld/shapeworld_world.h"  // renders a scene for the reward server's request
#include "core/world/registry.h"
#include "maskgrpo/learner.grpc.pb.h"
#include "maskgrpo/reward.grpc.pb.h"
#include "rpc/convert.h"
#include "tests/service_fixture.h"

namespace maskgrpo {
namespace {

using testing::Clock;
namespace fs = std::filesystem;

class ServiceTest : public testing::ServiceFixture {
 protected:
  int StartLearner(int updates = 2, const std::string& train_extra = "") {
    return Start("learner", "learner",
                 {"--config", LearnerConfig(updates, "", train_extra), "--out", (dir_ / "run").string()})
        .grpc;
  }
};

// A well-formed group for a lease: random tokens and steps in range.
v1::SubmitRequest Group(const v1::LeaseReply& reply, int lease) {
  v1::SubmitRequest r;
  r.set_lease_id(reply.leases(lease).lease_id());
  r.set_worker_id("test");
  r.set_policy_version(reply.policy_version());
  auto* g = r.mutable_group();
  const int G = reply.group_size(), N = 64, T = reply.sampling().steps();
  g->set_group_size(G);
  g->set_image_tokens(N);
  g->set_steps(T);
  for (int i = 0; i < G * N; ++i) {
    g->add_tokens((i * 7) % 291);
    g->add_reveal_step(i % T);
  }
  for (int i = 0; i < G * T; ++i) {
    g->add_min_revealed_prob(0.3f);
    g->add_logp_candidate1(-2.0f);
    g->add_logp_candidate2(-1.5f);
  }
  for (int i = 0; i < G; ++i) r.add_rewards(0.25 * i);
  return r;
}

TEST_F(ServiceTest, LearnerRejectsBadSubmissionsWithTheFieldNamedAndCountsDuplicatesOnce) {
  auto stub = LearnerStub(StartLearner());
  v1::LeaseRequest lease_request;
  lease_request.set_worker_id("test");
  lease_request.set_max_leases(2);
  v1::LeaseReply lease;
  ASSERT_TRUE(Call([&](grpc::ClientContext* c) { return stub->Lease(c, lease_request, &lease); }).ok());
  ASSERT_EQ(lease.leases_size(), 2);
  // Each lease names the seed its group is sampled with (from the run's seed), never 0.
  EXPECT_NE(lease.leases(0).sampling_seed(), 0u);
  EXPECT_NE(lease.leases(1).sampling_seed(), 0u);
  EXPECT_NE(lease.leases(0).sampling_seed(), lease.leases(1).sampling_seed());
  const auto before = GetStatus(stub.get());

  struct Bad {
    const char* what;
    std::function<void(v1::SubmitRequest*)> edit;
    grpc::StatusCode code;
    const char* field;
  };
  const Bad cases[] = {
      {"token out of range", [](v1::SubmitRequest* r) { r->mutable_group()->set_tokens(0, 9999); },
       grpc::StatusCode::INVALID_ARGUMENT, "tokens"},
      {"wrong length", [](v1::SubmitRequest* r) { r->mutable_group()->mutable_reveal_step()->RemoveLast(); },
       grpc::StatusCode::INVALID_ARGUMENT, "reveal_step"},
      {"NaN reward", [](v1::SubmitRequest* r) { r->set_rewards(1, std::nan("")); },
       grpc::StatusCode::INVALID_ARGUMENT, "rewards[1]"},
      {"infinite log-prob", [](v1::SubmitRequest* r) { r->mutable_group()->set_logp_candidate2(0, -INFINITY); },
       grpc::StatusCode::INVALID_ARGUMENT, "log-probs"},
      {"unknown lease", [](v1::SubmitRequest* r) { r->set_lease_id("nope"); },
       grpc::StatusCode::FAILED_PRECONDITION, "lease_id"},
      {"version beyond the lease", [](v1::SubmitRequest* r) { r->set_policy_version(5); },
       grpc::StatusCode::INVALID_ARGUMENT, "policy_version"},
  };
  for (const auto& bad : cases) {
    auto request = Group(lease, 0);
    bad.edit(&request);
    v1::SubmitReply reply;
    auto st = Call([&](grpc::ClientContext* c) { return stub->Submit(c, request, &reply); });
    EXPECT_EQ(st.error_code(), bad.code) << bad.what << ": " << st.error_message();
    EXPECT_NE(st.error_message().find(bad.field), std::string::npos) << bad.what << ": " << st.error_message();
  }
  auto after = GetStatus(stub.get());
  EXPECT_EQ(after.policy_version(), before.policy_version());
  EXPECT_EQ(after.queued_groups(), before.queued_groups());
  EXPECT_EQ(after.outstanding_leases(), before.outstanding_leases());
  EXPECT_EQ(after.groups_accepted(), before.groups_accepted());
  EXPECT_EQ(after.groups_invalid(), before.groups_invalid() + 6);

  // The good group, then the same again: counted once.
  auto good = Group(lease, 0);
  v1::SubmitReply first, second;
  ASSERT_TRUE(Call([&](grpc::ClientContext* c) { return stub->Submit(c, good, &first); }).ok());
  EXPECT_EQ(first.outcome(), v1::SubmitReply::ACCEPTED);
  ASSERT_TRUE(Call([&](grpc::ClientContext* c) { return stub->Submit(c, good, &second); }).ok());
  EXPECT_EQ(second.outcome(), v1::SubmitReply::DUPLICATE);
  auto last = GetStatus(stub.get());
  EXPECT_EQ(last.groups_accepted(), 1);
  EXPECT_EQ(last.groups_duplicate(), 1);
}

TEST_F(ServiceTest, RewardServerScoresAndRejectsMalformedOrOversizedRequests) {
  const int port = Start("reward", "reward_server", {"--listen", "127.0.0.1:0"}).grpc;
  auto stub = v1::Reward::NewStub(grpc::CreateChannel("127.0.0.1:" + std::to_string(port), grpc::InsecureChannelCredentials()));
  const auto spec = shapeworld::MakeColors(shapeworld::kCircle, shapeworld::kRed);
  std::mt19937_64 rng(3);
  v1::ScoreRequest request;
  auto* item = request.add_items();
  rpc::ToProto(shapeworld::Render(shapeworld::SampleScene(spec, rng)), item->mutable_image());
  rpc::ToProto(shapeworld::ToPrompt(spec), item->mutable_prompt());
  v1::ScoreReply reply;
  ASSERT_TRUE(Call([&](grpc::ClientContext* c) { return stub->Score(c, request, &reply); }).ok());
  ASSERT_EQ(reply.scores_size(), 1);
  EXPECT_DOUBLE_EQ(reply.scores(0).reward(), 1.0);  // a rendered scene satisfies its prompt
  EXPECT_EQ(reply.scores(0).components().count("shapeworld_dense"), 1u);

  auto expect = [&](v1::ScoreRequest r, grpc::StatusCode code, const std::string& field) {
    v1::ScoreReply out;
    auto st = Call([&](grpc::ClientContext* c) { return stub->Score(c, r, &out); });
    EXPECT_EQ(st.error_code(), code) << st.error_message();
    EXPECT_NE(st.error_message().find(field), std::string::npos) << st.error_message();
  };
  expect(v1::ScoreRequest(), grpc::StatusCode::INVALID_ARGUMENT, "items");
  auto bad = request;
  bad.mutable_items(0)->mutable_image()->mutable_rgb()->pop_back();
  expect(bad, grpc::StatusCode::INVALID_ARGUMENT, "items[0].image.rgb");
  bad = request;
  bad.mutable_items(0)->mutable_prompt()->mutable_spec()->mutable_include(0)->set_class_name("dog");
  expect(bad, grpc::StatusCode::INVALID_ARGUMENT, "items[0].prompt.spec.include[0].class_name");
  auto many = request;
  for (int i = 0; i < 300; ++i) *many.add_items() = request.items(0);
  expect(many, grpc::StatusCode::RESOURCE_EXHAUSTED, "items");
  auto huge = request;
  huge.mutable_items(0)->mutable_image()->set_rgb(std::string(65 << 20, '\0'));
  v1::ScoreReply out;
  auto st = Call([&](grpc::ClientContext* c) { return stub->Score(c, huge, &out); });
  EXPECT_EQ(st.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << st.error_message();
  // Still serving after all that.
  ASSERT_TRUE(Call([&](grpc::ClientContext* c) { return stub->Score(c, request, &reply); }).ok());
}

// Every reward the learner trained on (its group dumps) is the reward server's default scorer
// (shapeworld_dense) applied to the image its own tokens decode to, for the prompt the learner
// leased: no reward travels with the wrong image, group or prompt between the processes.
void ExpectTrainedRewardsAreTheImagesOwn(const fs::path& groups_dir) {
  auto world = std::move(CreateWorld(WorldOptions{})).value();
  const auto& train = world->prompts(PromptSplitKind::kTrain);
  int checked = 0;
  for (const char* version : {"v000001", "v000002"}) {
    const std::string dir = (groups_dir / version).string();
    auto tokens = grpo::ReadNpy(dir + "/tokens.npy");
    auto rewards = grpo::ReadNpy(dir + "/rewards.npy");
    auto group_index = grpo::ReadNpy(dir + "/group_index.npy");
    auto meta_text = ReadFileToString(dir + "/groups.json");
    ASSERT_TRUE(tokens.ok() && rewards.ok() && group_index.ok() && meta_text.ok()) << dir;
    auto meta = Json::Parse(*meta_text);
    ASSERT_TRUE(meta.ok()) << meta.status().ToString();
    const auto& prompts = meta->Find("prompts")->as_array();
    ASSERT_EQ(tokens->size(0), rewards->size(0));
    for (int64_t i = 0; i < tokens->size(0); ++i) {
      const std::string text = prompts.at(group_index->index({i}).item<int64_t>()).Find("prompt")->as_string();
      const auto prompt = std::find_if(train.begin(), train.end(), [&](const Prompt& p) { return p.text == text; });
      ASSERT_NE(prompt, train.end()) << "not a training prompt: " << text;
      auto image = world->DecodeImages(tokens->slice(0, i, i + 1));
      ASSERT_TRUE(image.ok()) << image.status().ToString();
      auto judged = world->Judge(*prompt, *image);
      ASSERT_TRUE(judged.ok()) << judged.status().ToString();
      const double expected = judged->at(0).rewards.at("dense");
      EXPECT_NEAR(rewards->index({i}).item<double>(), expected, 1e-9) << version << " image " << i << ": " << text;
      ++checked;
    }
  }
  EXPECT_EQ(checked, 2 * 2 * 4);  // 2 updates x 2 groups x 4 images
}

TEST_F(ServiceTest, AWorkerTrainsTheLearnerToTheEnd) {
  const int reward_port = Start("reward", "reward_server", {"--listen", "127.0.0.1:0"}).grpc;
  const int learner_port = StartLearner(2, "dump_groups: true");
  Start("worker", "rollout_worker",
        {"--learner", "127.0.0.1:" + std::to_string(learner_port), "--reward-servers",
         "127.0.0.1:" + std::to_string(reward_port), "--worker-id", "w0", "--threads", "1"});
  auto stub = LearnerStub(learner_port);
  auto s = WaitFor(stub.get(), [](const v1::LearnerStatus& st) { return st.finished(); }, 300);
  EXPECT_TRUE(s.finished()) << "version " << s.policy_version();
  EXPECT_EQ(s.policy_version(), 2);
  EXPECT_EQ(s.groups_trained(), 4);
  EXPECT_EQ(s.groups_invalid(), 0);
  EXPECT_TRUE(fs::exists(dir_ / "run" / "model.safetensors"));
  ExpectTrainedRewardsAreTheImagesOwn(dir_ / "run" / "groups");
  // The worker leaves by itself once the learner reports the end.
  for (int i = 0; i < 200 && !Proc("worker").Poll(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_TRUE(Proc("worker").exited_cleanly()) << Proc("worker").ExitDescription();
}

// For Kubernetes, which restarts every process that exits: with linger_ms -1 the finished
// learner keeps serving (and, restarted on its finished run folder, serves again), and a
// worker with stay_after_finish stays up beside it; SIGTERM stops both cleanly.
TEST_F(ServiceTest, WithLingerForeverAFinishedLearnerAndItsWorkerStayUpUntilStopped) {
  const int reward_port = Start("reward", "reward_server", {"--listen", "127.0.0.1:0"}).grpc;
  const std::string learner_config = LearnerConfig(1);
  {
    std::ifstream in(learner_config);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const size_t at = text.find("linger_ms: 2000");
    ASSERT_NE(at, std::string::npos) << text;
    text.replace(at, 15, "linger_ms: -1");
    std::ofstream(learner_config) << text;
  }
  const std::string listen = "127.0.0.1:" + std::to_string(FreePort());
  const std::vector<std::string> learner_args = {"--config", learner_config, "--out", (dir_ / "run").string(),
                                                 "--listen", listen};
  const testing::Ports learner_ports = Start("learner", "learner", learner_args);
  const int learner_port = learner_ports.grpc;
  EXPECT_EQ(MetricValue(Scrape(learner_ports.metrics), "maskgrpo_learner_run_finished"), 0);
  const std::string worker_config = WriteConfig("worker.textproto", "stay_after_finish: true\nbackoff_max_ms: 300\n");
  Start("worker", "rollout_worker",
        {"--config", worker_config, "--learner", listen, "--reward-servers", "127.0.0.1:" + std::to_string(reward_port),
         "--worker-id", "w0", "--threads", "1"});
  auto stub = LearnerStub(learner_port);
  auto s = WaitFor(stub.get(), [](const v1::LearnerStatus& st) { return st.finished(); }, 300);
  ASSERT_TRUE(s.finished()) << "version " << s.policy_version();
  ASSERT_TRUE(WaitForLogLine("worker", "staying up until stopped")) << LogText("worker");
  // Well past the 2 s a finite linger would have served (the default is 3 s).
  std::this_thread::sleep_for(std::chrono::seconds(4));
  EXPECT_FALSE(Proc("learner").Poll()) << LogText("learner");
  EXPECT_FALSE(Proc("worker").Poll()) << LogText("worker");
  EXPECT_TRUE(GetStatus(stub.get()).finished());
  EXPECT_NE(LogText("learner").find("serving until stopped"), std::string::npos) << LogText("learner");
  // What keeps the stalled-learner alerts quiet for a finished run (deploy/prometheus/alerts.yml).
  EXPECT_EQ(MetricValue(Scrape(learner_ports.metrics), "maskgrpo_learner_run_finished"), 1);

  // SIGTERM ends the learner at once; restarted on the same folder (a rescheduled pod) it
  // finds the run finished and serves again, and the worker, which lost it meanwhile, finds
  // it again and stays.
  auto stop = [&](const std::string& name) {
    ASSERT_EQ(::kill(Proc(name).pid(), SIGTERM), 0);
    const auto until = Clock::now() + std::chrono::seconds(20);
    while (!Proc(name).Poll() && Clock::now() < until) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    EXPECT_TRUE(Proc(name).exited_cleanly()) << name << ": " << Proc(name).ExitDescription() << "\n" << LogText(name);
  };
  stop("learner");
  ASSERT_TRUE(WaitForLogLine("worker", "learner unreachable", 30)) << LogText("worker");
  Start("learner", "learner", learner_args);
  ASSERT_TRUE(WaitForLogLine("learner", "serving until stopped", 120)) << LogText("learner");
  ASSERT_TRUE(WaitForLogLine("worker", "learner reachable again", 30)) << LogText("worker");
  EXPECT_TRUE(GetStatus(stub.get()).finished());
  EXPECT_EQ(GetStatus(stub.get()).policy_version(), 1);
  std::this_thread::sleep_for(std::chrono::seconds(1));
  EXPECT_FALSE(Proc("worker").Poll()) << LogText("worker");
  stop("worker");
  stop("learner");
}

// A worker told to stop while the learner holds its Lease (a long poll) cancels the call
// instead of waiting it out.
TEST_F(ServiceTest, AStoppingWorkerCancelsItsLongPollLease) {
  const int reward_port = Start("reward", "reward_server", {"--listen", "127.0.0.1:0"}).grpc;
  const int learner_port = StartLearner(2);
  auto stub = LearnerStub(learner_port);
  // Another worker holds the whole window (2 groups at lag 0): the next Lease finds no room.
  v1::LeaseRequest hold;
  hold.set_worker_id("holder");
  hold.set_max_leases(8);
  v1::LeaseReply held;
  ASSERT_TRUE(Call([&](grpc::ClientContext* c) { return stub->Lease(c, hold, &held); }).ok());
  ASSERT_EQ(held.leases_size(), 2);
  const std::string config = WriteConfig("worker.textproto", "lease_wait_ms: 5000\n");
  Start("worker", "rollout_worker",
        {"--config", config, "--learner", "127.0.0.1:" + std::to_string(learner_port), "--reward-servers",
         "127.0.0.1:" + std::to_string(reward_port), "--worker-id", "w0", "--threads", "1"});
  // Its first Lease follows its start at once (the model is loaded with the first weights);
  // 1.5 s in, it is in the poll.
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  ASSERT_FALSE(Proc("worker").Poll()) << "the worker ended early; log: " << Log("worker");
  const auto stop_at = Clock::now();
  ASSERT_EQ(::kill(Proc("worker").pid(), SIGTERM), 0);
  while (!Proc("worker").Poll() && Clock::now() - stop_at < std::chrono::seconds(10)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - stop_at);
  EXPECT_TRUE(Proc("worker").exited_cleanly()) << Proc("worker").ExitDescription();
  // Without the cancel the worker would stay in the 5 s poll for another ~3.5 s.
  EXPECT_LT(took.count(), 2500) << "the stopping worker waited out its long poll";
}

// learner.frozen_parameters: the worker's first fetch is whole, every later one holds only
// the trained parameters (applied over the frozen ones it holds, and verified by the probe).
TEST_F(ServiceTest, WithFrozenEmbeddingsAWorkerFetchesOnlyTheTrainedParametersAfterItsFirstVersion) {
  const int reward_port = Start("reward", "reward_server", {"--listen", "127.0.0.1:0"}).grpc;
  const int learner_port =
      Start("learner", "learner",
            {"--config", LearnerConfig(2, "", "", R"(frozen_parameters: "^model[.]embed_tokens[.]")"), "--out",
             (dir_ / "run").string()})
          .grpc;
  Start("worker", "rollout_worker",
        {"--learner", "127.0.0.1:" + std::to_string(learner_port), "--reward-servers",
         "127.0.0.1:" + std::to_string(reward_port), "--worker-id", "w0", "--threads", "1"});
  auto stub = LearnerStub(learner_port);
  auto s = WaitFor(stub.get(), [](const v1::LearnerStatus& st) { return st.finished(); }, 300);
  ASSERT_TRUE(s.finished()) << "version " << s.policy_version();
  for (int i = 0; i < 200 && !Proc("worker").Poll(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  std::ifstream in(Log("worker"));
  const std::string log((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // "weights of version V applied (X MB in Ys[, trained parameters only])"
  auto megabytes = [&](int version, bool* trained_only) {
    const std::string head = "weights of version " + std::to_string(version) + " applied (";
    const size_t at = log.find(head);
    if (at == std::string::npos) return -1.0;
    const size_t end = log.find('\n', at);
    *trained_only = log.substr(at, end - at).find("trained parameters only") != std::string::npos;
    return std::stod(log.substr(at + head.size()));
  };
  bool first_partial = true, second_partial = false;
  const double first = megabytes(0, &first_partial), second = megabytes(1, &second_partial);
  ASSERT_GT(first, 0) << log;
  ASSERT_GT(second, 0) << log;
  EXPECT_FALSE(first_partial) << log;
  EXPECT_TRUE(second_partial) << log;
  // The later fetch is smaller by the embedding table's bytes (the log prints MB to 0.01).
  auto base = ReadSafetensors(std::string(MASKGRPO_SOURCE_DIR) + "/models/shapeworld_base.safetensors");
  ASSERT_TRUE(base.ok()) << base.status().ToString();
  const at::Tensor* embedding = base->Find("model.embed_tokens.weight");
  ASSERT_NE(embedding, nullptr);
  const double embedding_mb = static_cast<double>(embedding->numel() * embedding->element_size()) / 1e6;
  EXPECT_NEAR(first - second, embedding_mb, 0.011) << log;
  EXPECT_EQ(log.find("refused"), std::string::npos) << log;
}

// Weight fan-out (learner weights_fanout 1, workers with --relay-listen): a worker that
// holds a version serves it to the next. The learner stays at version 0 (an update needs
// 256 groups), so the order is fixed: a relay registered by the test at an address where
// nothing listens is tried first; the worker sent there falls back to the learner, which
// sends no one there again; the next two workers fetch from workers. The learner streams
// the model once for three workers, and every copy passes the weight probe.
TEST_F(ServiceTest, WithFanOutWorkersFetchFromEachOtherAndAFailedRelayFallsBackToTheLearner) {
  const int reward_port = Start("reward", "reward_server", {"--listen", "127.0.0.1:0"}).grpc;
  const testing::Ports learner =
      Start("learner", "learner", {"--config", FanOutLearnerConfig(), "--out", (dir_ / "run").string()});
  auto stub = LearnerStub(learner.grpc);
  const std::string dead_address = "127.0.0.1:" + std::to_string(FreePort());
  grpc::Status registered = Call([&](grpc::ClientContext* c) {
    v1::WeightsHeldRequest request;
    request.set_worker_id("ghost");
    request.set_version(0);
    request.set_relay_address(dead_address);
    v1::WeightsHeldReply reply;
    return stub->WeightsHeld(c, request, &reply);
  });
  ASSERT_TRUE(registered.ok()) << registered.error_message();
  auto start_worker = [&](const std::string& id, bool relay) {
    std::vector<std::string> args = {"--learner", "127.0.0.1:" + std::to_string(learner.grpc), "--reward-servers",
                                     "127.0.0.1:" + std::to_string(reward_port), "--worker-id", id, "--threads", "1"};
    if (relay) args.insert(args.end(), {"--relay-listen", "127.0.0.1:0"});
    Start(id, "rollout_worker", args);
    return WaitForLogLine(id, "weights of version 0 applied");
  };
  ASSERT_TRUE(start_worker("w1", true)) << LogText("w1");
  ASSERT_TRUE(start_worker("w2", true)) << LogText("w2");
  ASSERT_TRUE(start_worker("w3", false)) << LogText("w3");
  EXPECT_EQ(GetStatus(stub.get()).policy_version(), 0);

  const std::string w1 = LogText("w1"), w2 = LogText("w2"), w3 = LogText("w3");
  // w1 was sent to the dead address, failed, and fetched from the learner.
  EXPECT_NE(w1.find("weights of version 0 from relay " + dead_address + " failed"), std::string::npos) << w1;
  EXPECT_EQ(w1.find("weights of version 0 applied (3.50 MB in 0.00s), from relay"), std::string::npos) << w1;
  // w2 fetched from w1; w3 from w1 or w2; no one else was sent to the dead address.
  auto relay_of = RelayAddressIn;
  EXPECT_NE(w2.find("from relay " + relay_of(w1) + "\n"), std::string::npos) << "w1 relays at " << relay_of(w1) << "\n" << w2;
  EXPECT_TRUE(w3.find("from relay " + relay_of(w1) + "\n") != std::string::npos ||
              w3.find("from relay " + relay_of(w2) + "\n") != std::string::npos)
      << w3;
  for (const std::string* log : {&w2, &w3}) EXPECT_EQ(log->find(dead_address), std::string::npos) << *log;
  for (const std::string* log : {&w1, &w2, &w3}) EXPECT_EQ(log->find(" refused: "), std::string::npos) << *log;
  // The learner's egress: one copy of the model (3.50 MB) for three workers.
  const std::string metrics = Scrape(learner.metrics);
  auto base = ReadSafetensors(std::string(MASKGRPO_SOURCE_DIR) + "/models/shapeworld_base.safetensors");
  ASSERT_TRUE(base.ok()) << base.status().ToString();
  double model_bytes = 0;
  for (const auto& [name, t] : base->tensors) model_bytes += static_cast<double>(t.numel() * t.element_size());
  EXPECT_EQ(MetricValue(metrics, "maskgrpo_learner_weights_sent_bytes_total"), model_bytes) << metrics;
  EXPECT_EQ(MetricValue(metrics, "maskgrpo_learner_weights_sources_total{source=\"fallback\"}"), 1) << metrics;
  EXPECT_EQ(MetricValue(metrics, "maskgrpo_learner_weights_sources_total{source=\"relay\"}"), 3) << metrics;
}

// Verified weight sync: a worker whose applied weights compute other log-probabilities than
// the learner's (two same-shaped tensors swapped after the checksums passed, by the test-only
// failpoint) refuses the version, counts it, and never samples; a sound worker then trains
// the run to the end, so the setup itself works.
TEST_F(ServiceTest, AWorkerRefusesWeightsThatFailTheProbeAndASoundOneTrains) {
  const int reward_port = Start("reward", "reward_server", {"--listen", "127.0.0.1:0"}).grpc;
  // Short leases: the refusing worker's leases come back to the sound one quickly.
  const int learner_port =
      Start("learner", "learner",
            {"--config", LearnerConfig(1, "lease_timeout_ms: 3000"), "--out", (dir_ / "run").string()})
          .grpc;
  const std::vector<std::string> args = {"--learner", "127.0.0.1:" + std::to_string(learner_port),
                                         "--reward-servers", "127.0.0.1:" + std::to_string(reward_port),
                                         "--threads", "1"};
  auto with_id = [&](const std::string& id) {
    auto a = args;
    a.insert(a.end(), {"--worker-id", id});
    return a;
  };
  ::setenv("MASKGRPO_FAILPOINT", "swap_weights_after_crc", 1);
  const testing::Ports bad = Start("bad", "rollout_worker", with_id("bad"));
  ::unsetenv("MASKGRPO_FAILPOINT");
  double failures = 0;
  for (int i = 0; i < 600 && failures < 1; ++i) {
    failures = MetricValue(Scrape(bad.metrics), "maskgrpo_worker_weight_probe_failures_total");
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_GE(failures, 1) << "the corrupted worker's probe never failed; log: " << Log("bad");
  const std::string metrics = Scrape(bad.metrics);
  EXPECT_EQ(MetricValue(metrics, "maskgrpo_worker_images_generated_total"), 0) << "sampled with refused weights";
  // Every finished check failed: the worker tries again (its leases are released at once), so
  // one more check may be under way, counted before its failure.
  const double checks = MetricValue(metrics, "maskgrpo_worker_weight_probe_checks_total");
  const double failed = MetricValue(metrics, "maskgrpo_worker_weight_probe_failures_total");
  EXPECT_GE(failed, failures);
  EXPECT_GE(checks, failed);
  EXPECT_LE(checks, failed + 1);
  auto read = [](const std::string& path) {
    std::ifstream in(path);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  };
  EXPECT_NE(read(Log("bad")).find("weight probe mismatch"), std::string::npos) << read(Log("bad"));
  auto stub = LearnerStub(learner_port);
  EXPECT_EQ(GetStatus(stub.get()).groups_accepted(), 0);

  Start("good", "rollout_worker", with_id("good"));
  auto s = WaitFor(stub.get(), [](const v1::LearnerStatus& st) { return st.finished(); }, 300);
  EXPECT_TRUE(s.finished()) << "version " << s.policy_version();
  EXPECT_GT(s.groups_accepted(), 0);
  // The sound worker applied (and so verified) its versions; nothing was refused.
  EXPECT_NE(read(Log("good")).find("weights of version 0 applied"), std::string::npos) << read(Log("good"));
  EXPECT_EQ(read(Log("good")).find("refused"), std::string::npos) << read(Log("good"));
  // Still nothing sampled by the refusing worker: from its /metrics while it runs, or from its
  // last log line once it has seen the run finish and exited (which the sanitizers' slowdown
  // makes likely before this line).
  const double images = MetricValue(Scrape(bad.metrics), "maskgrpo_worker_images_generated_total");
  if (images >= 0) {
    EXPECT_EQ(images, 0);
  } else {
    EXPECT_NE(read(Log("bad")).find("submitted 0 groups; exiting"), std::string::npos) << read(Log("bad"));
  }
}

}  // namespace
}  // namespace maskgrpo
