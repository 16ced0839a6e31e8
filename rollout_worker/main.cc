// rollout_worker: leases prompts from the learner, samples groups of images with the masked
// model, scores them on the reward servers and submits them. Stateless; scale by adding
// replicas.
//   rollout_worker --learner HOST:PORT --reward-servers A[,B...] [--config F] [--worker-id ID]
//                  [--metrics-listen HOST:PORT] [--port-file F] [--threads N] [--device D]
#include <prometheus/registry.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>

#include "app/config.h"
#include "app/flags.h"
#include "rollout_worker/worker_config.h"
#include "core/runtime.h"
#include "rollout_worker/learner_client.h"
#include "rollout_worker/reward_client.h"
#include "rollout_worker/worker.h"
#include "rollout_worker/worker_metrics.h"
#include "rpc/log.h"
#include "rpc/metrics_http.h"
#include "rpc/security.h"
#include "rpc/server_util.h"

namespace maskgrpo::worker {
namespace {

const char kUsage[] =
    "usage: rollout_worker --learner HOST:PORT --reward-servers A[,B...] [--config F] [--worker-id ID]\n"
    "                      [--metrics-listen HOST:PORT] [--port-file F] [--threads N] [--device D]\n"
    "                      [--relay-listen HOST:PORT] [--relay-advertise HOST:PORT]\n"
    "                      (serve the weights held to other workers: the learner's weights_fanout)\n"
    "  config: maskgrpo.config.RolloutWorkerConfig in protobuf text format (configs/rollout_worker.textproto)\n";

int Fail(const Status& s) {
  log::Error(s.ToString());
  return 1;
}

int Run(const std::vector<std::string>& args) {
  if (app::Flags::WantsHelp(args)) {
    std::fputs(kUsage, stdout);
    return 0;
  }
  auto flags = app::Flags::Parse(args, {"config", "learner", "reward-servers", "worker-id", "metrics-listen",
                                        "port-file", "threads", "device", "dtype", "relay-listen", "relay-advertise"});
  if (!flags.ok()) {
    std::fprintf(stderr, "%s\n%s", flags.status().message().c_str(), kUsage);
    return 2;
  }
  config::RolloutWorkerConfig config;
  if (Status st = LoadRolloutWorkerConfig(flags->Get("config"), &config); !st.ok()) return Fail(st);
  if (flags->Has("learner")) config.set_learner(flags->Get("learner"));
  if (flags->Has("reward-servers")) {
    config.clear_reward_servers();
    std::stringstream list(flags->Get("reward-servers"));
    for (std::string a; std::getline(list, a, ',');) config.add_reward_servers(a);
  }
  if (flags->Has("worker-id")) config.set_worker_id(flags->Get("worker-id"));
  if (flags->Has("metrics-listen")) config.set_metrics_listen(flags->Get("metrics-listen"));
  if (flags->Has("relay-listen")) config.set_relay_listen(flags->Get("relay-listen"));
  if (flags->Has("relay-advertise")) config.set_relay_advertise(flags->Get("relay-advertise"));
  if (Status st = app::ApplyRuntimeFlags(*flags, config.mutable_runtime()); !st.ok()) return Fail(st);
  if (config.worker_id().empty()) {
    char host[256] = {0};
    gethostname(host, sizeof(host) - 1);
    config.set_worker_id(std::string(host) + ":" + std::to_string(getpid()));
  }
  auto options = ToWorkerOptions(config);
  if (!options.ok()) return Fail(options.status());
  auto reward_options = ToRewardClientOptions(config);
  if (!reward_options.ok()) return Fail(reward_options.status());
  ConfigureThreads(config.runtime().threads());
  auto world = CreateWorld(options->world);
  if (!world.ok()) return Fail(world.status());

  auto registry = std::make_shared<prometheus::Registry>();
  WorkerMetrics metrics(*registry);
  std::unique_ptr<rpc::MetricsHttpServer> metrics_http;
  if (!config.metrics_listen().empty()) {
    auto started = rpc::MetricsHttpServer::Start(config.metrics_listen(), registry);
    if (!started.ok()) return Fail(started.status());
    metrics_http = std::move(*started);
  }
  if (Status st = rpc::WritePortFile(flags->Get("port-file"), 0, metrics_http ? metrics_http->port() : 0); !st.ok()) {
    return Fail(st);
  }
  grpc::ChannelArguments channel_args;
  channel_args.SetMaxReceiveMessageSize(64 << 20);
  // Reconnect within 2 s of a restarted learner. gRPC's default backoff grows to 120 s, and
  // the chaos soak measured a median 9.6 s from a learner restart to the next update.
  channel_args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 250);
  channel_args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 2000);
  auto channel = rpc::MakeChannel(config.learner(), config.learner_tls(), channel_args, "learner_tls");
  if (!channel.ok()) return Fail(channel.status());
  auto learner_token = rpc::LoadToken(config.learner_auth(), "learner_auth");
  if (!learner_token.ok()) return Fail(learner_token.status());
  LearnerClient learner(*channel, std::chrono::milliseconds(config.rpc_deadline_ms()),
                        std::chrono::milliseconds(config.weights_deadline_ms()), *learner_token);
  if (Status st = learner.SetRelayTls(config.relay_client_tls()); !st.ok()) return Fail(st);
  auto rewards = RewardClient::Create(*reward_options);
  if (!rewards.ok()) return Fail(rewards.status());
  log::Info("worker " + config.worker_id() + ": learner " + config.learner() + ", " +
            std::to_string(config.reward_servers_size()) + " reward server address(es)" +
            (metrics_http ? "; /metrics on port " + std::to_string(metrics_http->port()) : ""));

  // Weight fan-out: serve the version this worker holds to others (learner weights_fanout).
  std::unique_ptr<WeightsRelayService> relay;
  std::unique_ptr<grpc::Server> relay_server;
  if (!config.relay_listen().empty()) {
    relay = std::make_unique<WeightsRelayService>(*learner_token);
    rpc::GrpcServerOptions server_options;
    server_options.listen = config.relay_listen();
    server_options.max_receive_bytes = 1 << 20;  // requests are small; the replies are the stream
    auto credentials = rpc::MakeServerCredentials(config.relay_tls(), "relay_tls");
    if (!credentials.ok()) return Fail(credentials.status());
    server_options.credentials = *credentials;
    auto started = rpc::StartGrpcServer(server_options, {relay.get()});
    if (!started.ok()) return Fail(Status(started.status().code(), "relay_listen: " + started.status().message()));
    relay_server = std::move(started->server);
    auto address = RelayAdvertiseAddress(config.relay_listen(), started->port, config.relay_advertise());
    if (!address.ok()) return Fail(address.status());
    options->relay = relay.get();
    options->relay_address = *address;
    log::Info("weights relay on " + *address + " (serves the version this worker holds to other workers; " +
              rpc::SecuritySummary(!config.relay_tls().cert_file().empty(), !config.relay_tls().client_ca_file().empty(),
                                   !learner_token->empty()) +
              ")");
  }
  RolloutWorker worker(*options, world->get(), &learner, rewards->get(), &metrics,
                       [](const std::string& line) { log::Info(line); });
  std::atomic<bool> done{false};
  Status run_status;
  std::thread loop([&] {
    try {
      run_status = worker.Run();
    } catch (const std::exception& e) {
      run_status = Internal(std::string("worker failed: ") + e.what());
    }
    done = true;
  });
  const int sig = rpc::WaitForStop([&] { return done.load(); });
  if (sig != 0) log::Info("signal " + std::to_string(sig) + ": stopping");
  worker.Stop();
  loop.join();
  if (relay_server) relay_server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  if (metrics_http) metrics_http->Stop();
  if (!run_status.ok()) return Fail(run_status);
  log::Info("submitted " + std::to_string(worker.groups_submitted()) + " groups; exiting");
  return 0;
}

}  // namespace
}  // namespace maskgrpo::worker

int main(int argc, char** argv) {
  maskgrpo::rpc::BlockStopSignals();
  maskgrpo::log::Init("rollout_worker");
  return maskgrpo::worker::Run(std::vector<std::string>(argv + 1, argv + argc));
}
