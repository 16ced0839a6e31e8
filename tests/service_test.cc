// Multi-process tests: the real reward_server, learner and rollout_worker binaries on
// loopback (ports chosen by the servers, announced in port files), driven over gRPC.
#include <gtest/gtest.h>
#include <grpcpp/client_context.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <thread>

#include "app/child_process.h"
#include "core/shapeworld/prompts.h"
#include "maskgrpo/learner.grpc.pb.h"
#include "maskgrpo/reward.grpc.pb.h"
#include "rpc/convert.h"

namespace maskgrpo {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

class ServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("service_test_" + std::to_string(::getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override {
    for (auto& p : procs_) p.Stop(5000);
    if (!HasFailure()) fs::remove_all(dir_);
  }

  // Starts bin/NAME with args and waits for its port file; returns the gRPC port.
  int Start(const std::string& name, const std::string& binary, std::vector<std::string> args) {
    const std::string port_file = (dir_ / (name + ".port")).string();
    std::vector<std::string> argv = {std::string(MASKGRPO_BIN_DIR) + "/" + binary};
    argv.insert(argv.end(), args.begin(), args.end());
    argv.insert(argv.end(), {"--port-file", port_file});
    auto child = app::ChildProcess::Start(name, argv, (dir_ / (name + ".log")).string());
    EXPECT_TRUE(child.ok()) << child.status().ToString();
    procs_.push_back(std::move(*child));
    const auto until = Clock::now() + std::chrono::seconds(120);
    while (Clock::now() < until && !fs::exists(port_file)) {
      if (procs_.back().Poll()) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    std::ifstream in(port_file);
    std::string line;
    std::getline(in, line);  // grpc=PORT
    EXPECT_EQ(line.rfind("grpc=", 0), 0u) << name << " did not start; log: " << (dir_ / (name + ".log"));
    return line.size() > 5 ? std::stoi(line.substr(5)) : 0;
  }

  std::string WriteConfig(const std::string& name, const std::string& text) {
    const auto path = dir_ / name;
    std::ofstream(path) << text;
    return path.string();
  }

  // A learner with a tiny run: 2 updates of 2 groups x 4 images, 4 unmasking steps.
  int StartLearner(int updates = 2) {
    const std::string config = WriteConfig("learner.textproto", R"(
      train {
        init_model: ")" + std::string(MASKGRPO_SOURCE_DIR) + R"(/models/shapeworld_base.safetensors"
        group_size: 4 groups_per_update: 2 updates: )" + std::to_string(updates) + R"(
        rollout { steps: 4 }
        learner { minibatches: 1 }
        eval { prompts_per_task: 1 images_per_prompt: 2 grid_images: 0 sampling { steps: 4 } }
        eval_every: 0 checkpoint_every: 1
        runtime { threads: 1 }
      }
      max_policy_lag: 0
      linger_ms: 2000)");
    return Start("learner", "learner", {"--config", config, "--out", (dir_ / "run").string()});
  }

  fs::path dir_;
  std::vector<app::ChildProcess> procs_;
};

std::unique_ptr<v1::Learner::Stub> LearnerStub(int port) {
  return v1::Learner::NewStub(grpc::CreateChannel("127.0.0.1:" + std::to_string(port), grpc::InsecureChannelCredentials()));
}

grpc::Status Call(const std::function<grpc::Status(grpc::ClientContext*)>& f) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  return f(&context);
}

v1::LearnerStatus GetStatus(v1::Learner::Stub* stub) {
  v1::LearnerStatus s;
  EXPECT_TRUE(Call([&](grpc::ClientContext* c) { return stub->GetStatus(c, v1::StatusRequest(), &s); }).ok());
  return s;
}

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
  const int port = Start("reward", "reward_server", {"--listen", "127.0.0.1:0"});
  auto stub = v1::Reward::NewStub(grpc::CreateChannel("127.0.0.1:" + std::to_string(port), grpc::InsecureChannelCredentials()));
  const auto spec = shapeworld::MakeColors(shapeworld::kCircle, shapeworld::kRed);
  std::mt19937_64 rng(3);
  v1::ScoreRequest request;
  auto* item = request.add_items();
  rpc::ToProto(shapeworld::Render(shapeworld::SampleScene(spec, rng)), item->mutable_image());
  item->mutable_prompt()->set_text(spec.text);
  rpc::ToProto(spec, item->mutable_prompt()->mutable_spec());
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

TEST_F(ServiceTest, AWorkerTrainsTheLearnerToTheEnd) {
  const int reward_port = Start("reward", "reward_server", {"--listen", "127.0.0.1:0"});
  const int learner_port = StartLearner(2);
  Start("worker", "rollout_worker",
        {"--learner", "127.0.0.1:" + std::to_string(learner_port), "--reward-servers",
         "127.0.0.1:" + std::to_string(reward_port), "--worker-id", "w0", "--threads", "1"});
  auto stub = LearnerStub(learner_port);
  const auto until = Clock::now() + std::chrono::seconds(300);
  v1::LearnerStatus s;
  while (Clock::now() < until) {
    s = GetStatus(stub.get());
    if (s.finished()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  EXPECT_TRUE(s.finished()) << "version " << s.policy_version();
  EXPECT_EQ(s.policy_version(), 2);
  EXPECT_EQ(s.groups_trained(), 4);
  EXPECT_EQ(s.groups_invalid(), 0);
  EXPECT_TRUE(fs::exists(dir_ / "run" / "model.safetensors"));
  // The worker leaves by itself once the learner reports the end.
  for (int i = 0; i < 200 && !procs_.back().Poll(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_TRUE(procs_.back().exited_cleanly()) << procs_.back().ExitDescription();
}

}  // namespace
}  // namespace maskgrpo
