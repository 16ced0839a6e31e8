// TLS, mutual TLS and bearer tokens with the real binaries on loopback: a plaintext client
// is refused by a TLS server, a missing or wrong token gets UNAUTHENTICATED, the right one
// is accepted, health checks stay open for probes, and a whole tiny run works with every
// link secured. Certificates come from scripts/make_dev_certs.sh.
#include <gtest/gtest.h>
#include <grpcpp/client_context.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "maskgrpo/learner.grpc.pb.h"
#include "maskgrpo/reward.grpc.pb.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "tests/service_fixture.h"

namespace maskgrpo {
namespace {

const char kToken[] = "s3cret-token-for-tests";

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class SecurityTest : public testing::ServiceFixture {
 protected:
  void SetUp() override {
    ServiceFixture::SetUp();
    certs_ = (dir_ / "certs").string();
    const std::string cmd = "bash " + std::string(MASKGRPO_SOURCE_DIR) + "/scripts/make_dev_certs.sh " + certs_ + " >/dev/null";
    ASSERT_EQ(std::system(cmd.c_str()), 0) << "make_dev_certs.sh failed (is openssl installed?)";
    token_file_ = WriteConfig("token", std::string(kToken) + "\n");
  }

  std::string Cert(const std::string& name) const { return certs_ + "/" + name; }

  std::shared_ptr<grpc::Channel> TlsChannel(int port, bool client_cert) const {
    grpc::SslCredentialsOptions o;
    o.pem_root_certs = ReadAll(Cert("ca.pem"));
    if (client_cert) {
      o.pem_cert_chain = ReadAll(Cert("client.pem"));
      o.pem_private_key = ReadAll(Cert("client.key"));
    }
    return grpc::CreateChannel("localhost:" + std::to_string(port), grpc::SslCredentials(o));
  }

  static grpc::Status Describe(const std::shared_ptr<grpc::Channel>& channel, const std::string& token) {
    auto stub = v1::Reward::NewStub(channel);
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    if (!token.empty()) context.AddMetadata("authorization", "Bearer " + token);
    v1::DescribeReply reply;
    return stub->Describe(&context, v1::DescribeRequest(), &reply);
  }

  std::string RewardConfig(bool mutual) {
    return WriteConfig("reward.textproto", "tls { cert_file: '" + Cert("server.pem") + "' key_file: '" +
                                               Cert("server.key") + "'" +
                                               (mutual ? " client_ca_file: '" + Cert("ca.pem") + "'" : "") +
                                               " }\nauth { token_file: '" + token_file_ + "' }\n");
  }

  std::string certs_, token_file_;
};

TEST_F(SecurityTest, TlsServerRefusesPlaintextAndChecksTheBearerToken) {
  const int port = Start("reward", "reward_server", {"--config", RewardConfig(false), "--listen", "127.0.0.1:0"}).grpc;
  ASSERT_GT(port, 0);

  auto plaintext = grpc::CreateChannel("127.0.0.1:" + std::to_string(port), grpc::InsecureChannelCredentials());
  EXPECT_EQ(Describe(plaintext, kToken).error_code(), grpc::StatusCode::UNAVAILABLE);

  auto tls = TlsChannel(port, /*client_cert=*/false);
  grpc::Status missing = Describe(tls, "");
  EXPECT_EQ(missing.error_code(), grpc::StatusCode::UNAUTHENTICATED) << missing.error_message();
  EXPECT_NE(missing.error_message().find("missing"), std::string::npos);
  grpc::Status wrong = Describe(tls, "s3cret-token-for-tesTS");
  EXPECT_EQ(wrong.error_code(), grpc::StatusCode::UNAUTHENTICATED) << wrong.error_message();
  EXPECT_NE(wrong.error_message().find("invalid"), std::string::npos);
  EXPECT_EQ(Describe(tls, std::string(kToken) + "x").error_code(), grpc::StatusCode::UNAUTHENTICATED);
  grpc::Status right = Describe(tls, kToken);
  EXPECT_TRUE(right.ok()) << right.error_message();

  // Health checking answers without a token, so that probes work.
  auto health = grpc::health::v1::Health::NewStub(tls);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  grpc::health::v1::HealthCheckResponse reply;
  ASSERT_TRUE(health->Check(&context, grpc::health::v1::HealthCheckRequest(), &reply).ok());
  EXPECT_EQ(reply.status(), grpc::health::v1::HealthCheckResponse::SERVING);

  // So does the probe the container images use, given the CA; without TLS it fails.
  const std::string probe = std::string(MASKGRPO_BIN_DIR) + "/maskgrpo_health_probe --address localhost:" +
                            std::to_string(port) + " --timeout-ms 5000";
  EXPECT_EQ(std::system((probe + " --tls-ca " + Cert("ca.pem") + " >/dev/null").c_str()), 0);
  EXPECT_NE(std::system((probe + " >/dev/null 2>&1").c_str()), 0);

  // The token is never logged.
  Proc("reward").Stop(5000);
  const std::string log = ReadAll(Log("reward"));
  EXPECT_NE(log.find("TLS, bearer token required"), std::string::npos) << log;
  EXPECT_EQ(log.find(kToken), std::string::npos);
}

TEST_F(SecurityTest, MutualTlsRefusesAClientWithoutACertificate) {
  const int port = Start("reward", "reward_server", {"--config", RewardConfig(true), "--listen", "127.0.0.1:0"}).grpc;
  ASSERT_GT(port, 0);
  EXPECT_EQ(Describe(TlsChannel(port, /*client_cert=*/false), kToken).error_code(), grpc::StatusCode::UNAVAILABLE);
  grpc::Status with_cert = Describe(TlsChannel(port, /*client_cert=*/true), kToken);
  EXPECT_TRUE(with_cert.ok()) << with_cert.error_message();
}

TEST_F(SecurityTest, BadSecurityConfigIsAClearStartupError) {
  const std::string config = WriteConfig("bad.textproto", "tls { cert_file: '" + Cert("missing.pem") + "' key_file: '" +
                                                              Cert("server.key") + "' }\n");
  auto child = app::ChildProcess::Start(
      "reward", {std::string(MASKGRPO_BIN_DIR) + "/reward_server", "--config", config}, Log("reward"));
  ASSERT_TRUE(child.ok());
  const auto until = testing::Clock::now() + std::chrono::seconds(30);
  while (!child->Poll() && testing::Clock::now() < until) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  ASSERT_FALSE(child->running()) << "reward_server started with a missing certificate";
  EXPECT_FALSE(child->exited_cleanly());
  EXPECT_NE(ReadAll(Log("reward")).find("tls.cert_file: cannot read"), std::string::npos) << ReadAll(Log("reward"));

  const std::string no_token = WriteConfig("bad2.textproto", "auth { token_env: 'MASKGRPO_TEST_UNSET_VARIABLE' }\n");
  ::unsetenv("MASKGRPO_TEST_UNSET_VARIABLE");
  auto child2 = app::ChildProcess::Start(
      "reward2", {std::string(MASKGRPO_BIN_DIR) + "/reward_server", "--config", no_token}, Log("reward2"));
  ASSERT_TRUE(child2.ok());
  while (!child2->Poll() && testing::Clock::now() < until) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  ASSERT_FALSE(child2->running());
  EXPECT_NE(ReadAll(Log("reward2")).find("auth.token_env: environment variable MASKGRPO_TEST_UNSET_VARIABLE"),
            std::string::npos)
      << ReadAll(Log("reward2"));
}

// The whole loop with every link secured: learner with mutual TLS and a token, reward
// server with TLS and a token, a worker holding the client certificate and both tokens
// (one from a file, one from the environment).
TEST_F(SecurityTest, ATinyRunWorksWithEveryLinkSecured) {
  ::setenv("MASKGRPO_TEST_TOKEN", kToken, 1);
  const std::string learner_config = LearnerConfig(
      1, "tls { cert_file: '" + Cert("server.pem") + "' key_file: '" + Cert("server.key") + "' client_ca_file: '" +
             Cert("ca.pem") + "' }\nauth { token_env: 'MASKGRPO_TEST_TOKEN' }\n");
  const int learner = Start("learner", "learner", {"--config", learner_config, "--out", (dir_ / "run").string()}).grpc;
  const int reward = Start("reward", "reward_server", {"--config", RewardConfig(false), "--listen", "127.0.0.1:0"}).grpc;
  ASSERT_GT(learner, 0);
  ASSERT_GT(reward, 0);

  // Without the token the learner answers UNAUTHENTICATED and its state is untouched.
  auto stub = v1::Learner::NewStub(TlsChannel(learner, /*client_cert=*/true));
  {
    grpc::ClientContext context;
    v1::LearnerStatus status;
    EXPECT_EQ(stub->GetStatus(&context, v1::StatusRequest(), &status).error_code(), grpc::StatusCode::UNAUTHENTICATED);
    grpc::ClientContext lease_context;
    v1::LeaseRequest lease;
    lease.set_worker_id("intruder");
    v1::LeaseReply reply;
    EXPECT_EQ(stub->Lease(&lease_context, lease, &reply).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  }

  const std::string worker_config = WriteConfig(
      "worker.textproto", "runtime { threads: 1 }\nlearner_tls { enabled: true ca_file: '" + Cert("ca.pem") +
                              "' cert_file: '" + Cert("client.pem") + "' key_file: '" + Cert("client.key") +
                              "' }\nlearner_auth { token_env: 'MASKGRPO_TEST_TOKEN' }\nreward_tls { enabled: true ca_file: '" +
                              Cert("ca.pem") + "' }\nreward_auth { token_file: '" + token_file_ + "' }\n");
  Start("worker", "rollout_worker",
        {"--config", worker_config, "--learner", "localhost:" + std::to_string(learner), "--reward-servers",
         "localhost:" + std::to_string(reward), "--worker-id", "w0"});

  v1::LearnerStatus status;
  const auto until = testing::Clock::now() + std::chrono::seconds(300);
  while (testing::Clock::now() < until) {
    grpc::ClientContext context;
    context.AddMetadata("authorization", std::string("Bearer ") + kToken);
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    if (stub->GetStatus(&context, v1::StatusRequest(), &status).ok() && status.finished()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  EXPECT_TRUE(status.finished()) << "learner log: " << Log("learner") << " worker log: " << Log("worker");
  EXPECT_EQ(status.policy_version(), 1);
  EXPECT_EQ(status.groups_invalid(), 0);
  EXPECT_EQ(ReadAll(Log("worker")).find(kToken), std::string::npos);
  EXPECT_EQ(ReadAll(Log("learner")).find(kToken), std::string::npos);
}

// Weight fan-out in a deployment whose learner link is encrypted, set up as the gpu overlay
// does: relays serve mutual TLS (relay_tls) with the relay certificate, whose only name is
// DNS:maskgrpo-rollout-worker, and workers fetch from them over TLS (relay_client_tls)
// checking that name at the advertised IP; a plaintext client is refused by a relay; a worker
// with learner_tls but no relay_client_tls fetches from the learner only.
TEST_F(SecurityTest, WeightRelaysUseTlsWhenTheLearnerDoes) {
  ::setenv("MASKGRPO_TEST_TOKEN", kToken, 1);
  const std::string learner_config =
      FanOutLearnerConfig("tls { cert_file: '" + Cert("server.pem") + "' key_file: '" + Cert("server.key") +
                          "' client_ca_file: '" + Cert("ca.pem") + "' }\nauth { token_env: 'MASKGRPO_TEST_TOKEN' }\n");
  const testing::Ports learner = Start("learner", "learner", {"--config", learner_config, "--out", (dir_ / "run").string()});
  const int reward = Start("reward", "reward_server", {"--listen", "127.0.0.1:0"}).grpc;
  ASSERT_GT(learner.grpc, 0);
  ASSERT_GT(reward, 0);
  const std::string client_tls = "enabled: true ca_file: '" + Cert("ca.pem") + "' cert_file: '" + Cert("client.pem") +
                                 "' key_file: '" + Cert("client.key") + "'";
  const std::string secured = "runtime { threads: 1 }\nlearner_tls { " + client_tls +
                              " }\nlearner_auth { token_env: 'MASKGRPO_TEST_TOKEN' }\n";
  const std::string relaying = secured + "relay_listen: '127.0.0.1:0'\nrelay_tls { cert_file: '" + Cert("relay.pem") +
                               "' key_file: '" + Cert("relay.key") + "' client_ca_file: '" + Cert("ca.pem") +
                               "' }\nrelay_client_tls { " + client_tls + " server_name: 'maskgrpo-rollout-worker' }\n";
  auto start_worker = [&](const std::string& id, const std::string& config) {
    Start(id, "rollout_worker",
          {"--config", WriteConfig(id + ".textproto", config), "--learner", "localhost:" + std::to_string(learner.grpc),
           "--reward-servers", "127.0.0.1:" + std::to_string(reward), "--worker-id", id});
    return WaitForLogLine(id, "weights of version 0 applied");
  };
  ASSERT_TRUE(start_worker("w1", relaying)) << ReadAll(Log("w1"));
  ASSERT_TRUE(start_worker("w2", relaying)) << ReadAll(Log("w2"));
  ASSERT_TRUE(start_worker("w3", secured)) << ReadAll(Log("w3"));

  const std::string w1 = ReadAll(Log("w1")), w2 = ReadAll(Log("w2")), w3 = ReadAll(Log("w3"));
  const std::string relay = RelayAddressIn(w1);
  ASSERT_NE(relay, "?") << w1;
  EXPECT_NE(w1.find("mutual TLS, bearer token required"), std::string::npos) << w1;
  // w2 fetched from w1's relay over TLS; w3 (no relay_client_tls) from the learner.
  EXPECT_NE(w2.find("from relay " + relay + "\n"), std::string::npos) << "w1 relays at " << relay << "\n" << w2;
  EXPECT_EQ(w3.find("from relay"), std::string::npos) << w3;
  const std::string metrics = Scrape(learner.metrics);
  EXPECT_GE(MetricValue(metrics, "maskgrpo_learner_weights_sources_total{source=\"relay\"}"), 1) << metrics;
  for (const std::string* log : {&w1, &w2, &w3}) {
    EXPECT_EQ(log->find(" failed ("), std::string::npos) << *log;
    EXPECT_EQ(log->find(kToken), std::string::npos);
  }

  // The relay itself: a plaintext client and a TLS client without a certificate are refused
  // before the token is even looked at.
  v1::FetchWeightsRequest request;
  request.set_version(0);
  grpc::ChannelArguments relay_name;
  relay_name.SetSslTargetNameOverride("maskgrpo-rollout-worker");
  auto fetch = [&](const std::shared_ptr<grpc::Channel>& channel) {
    auto stub = v1::WeightsRelay::NewStub(channel);
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    context.AddMetadata("authorization", std::string("Bearer ") + kToken);
    auto reader = stub->FetchWeights(&context, request);
    v1::WeightsChunk chunk;
    int chunks = 0;
    while (reader->Read(&chunk)) ++chunks;
    grpc::Status status = reader->Finish();
    return std::make_pair(status.error_code(), chunks);
  };
  EXPECT_EQ(fetch(grpc::CreateChannel(relay, grpc::InsecureChannelCredentials())).first, grpc::StatusCode::UNAVAILABLE);
  grpc::SslCredentialsOptions no_cert;
  no_cert.pem_root_certs = ReadAll(Cert("ca.pem"));
  EXPECT_EQ(fetch(grpc::CreateCustomChannel(relay, grpc::SslCredentials(no_cert), relay_name)).first,
            grpc::StatusCode::UNAVAILABLE);
  grpc::SslCredentialsOptions with_cert = no_cert;
  with_cert.pem_cert_chain = ReadAll(Cert("client.pem"));
  with_cert.pem_private_key = ReadAll(Cert("client.key"));
  auto served = fetch(grpc::CreateCustomChannel(relay, grpc::SslCredentials(with_cert), relay_name));
  EXPECT_EQ(served.first, grpc::StatusCode::OK);
  EXPECT_GT(served.second, 0);
}

}  // namespace
}  // namespace maskgrpo
