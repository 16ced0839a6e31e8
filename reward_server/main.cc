// reward_server: scores images against prompts for the rollout workers (gRPC service
// maskgrpo.v1.Reward), with dynamic batching and Prometheus metrics.
//   reward_server [--config F] [--listen HOST:PORT] [--metrics-listen HOST:PORT] [--port-file F]
#include <prometheus/registry.h>

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "app/flags.h"
#include "reward_server/reward_config.h"
#include "rpc/log.h"
#include "rpc/metrics_http.h"
#include "rpc/security.h"
#include "rpc/server_util.h"
#include "reward_server/batcher.h"
#include "reward_server/reward_metrics.h"
#include "reward_server/reward_service.h"

namespace maskgrpo::reward {
namespace {

const char kUsage[] =
    "usage: reward_server [--config F] [--listen HOST:PORT] [--metrics-listen HOST:PORT] [--port-file F]\n"
    "  config: maskgrpo.config.RewardServerConfig in protobuf text format (configs/reward_server.textproto)\n";

int Fail(const Status& s) {
  log::Error(s.ToString());
  return 1;
}

int Run(const std::vector<std::string>& args) {
  if (app::Flags::WantsHelp(args)) {
    std::fputs(kUsage, stdout);
    return 0;
  }
  auto flags = app::Flags::Parse(args, {"config", "listen", "metrics-listen", "port-file"});
  if (!flags.ok()) {
    std::fprintf(stderr, "%s\n%s", flags.status().message().c_str(), kUsage);
    return 2;
  }
  config::RewardServerConfig config;
  if (Status st = LoadRewardServerConfig(flags->Get("config"), &config); !st.ok()) return Fail(st);
  if (flags->Has("listen")) config.set_listen(flags->Get("listen"));
  if (flags->Has("metrics-listen")) config.set_metrics_listen(flags->Get("metrics-listen"));
  auto batcher_options = ToBatcherOptions(config);
  if (!batcher_options.ok()) return Fail(batcher_options.status());

  std::vector<WeightedScorer> scorers;
  for (int i = 0; i < config.scorers_size(); ++i) {
    const auto& sc = config.scorers(i);
    auto scorer = MakeScorer(sc);
    if (!scorer.ok()) return Fail(InvalidArgument("scorers[" + std::to_string(i) + "]: " + scorer.status().message()));
    scorers.push_back({std::move(*scorer), sc.weight()});
  }
  CombinedScorer combined(std::move(scorers));

  auto registry = std::make_shared<prometheus::Registry>();
  RewardMetrics metrics(*registry);
  std::unique_ptr<rpc::MetricsHttpServer> metrics_http;
  if (!config.metrics_listen().empty()) {
    auto started = rpc::MetricsHttpServer::Start(config.metrics_listen(), registry);
    if (!started.ok()) return Fail(started.status());
    metrics_http = std::move(*started);
  }
  DynamicBatcher batcher(
      *batcher_options, [&combined](const std::vector<const RewardItem*>& items) { return combined.Score(items); },
      [&metrics](int size, double seconds) { metrics.Batch(size, seconds); });
  auto credentials = rpc::MakeServerCredentials(config.tls(), "tls");
  if (!credentials.ok()) return Fail(credentials.status());
  auto token = rpc::LoadToken(config.auth(), "auth");
  if (!token.ok()) return Fail(token.status());
  RewardServiceOptions service_options;
  service_options.max_items_per_request = config.max_items_per_request();
  service_options.auth_token = *token;
  RewardService service(service_options, &combined, &batcher, &metrics, config.max_batch());

  rpc::GrpcServerOptions server_options;
  server_options.listen = config.listen();
  server_options.credentials = *credentials;
  server_options.max_connection_age_ms = config.max_connection_age_ms();
  auto server = rpc::StartGrpcServer(server_options, {&service});
  if (!server.ok()) return Fail(server.status());
  std::string names;
  for (const auto& ws : combined.scorers()) names += (names.empty() ? "" : ", ") + ws.scorer->name();
  log::Info("serving maskgrpo.v1.Reward on port " + std::to_string(server->port) + " (scorers: " + names +
            "; max batch " + std::to_string(config.max_batch()) + "; " +
            rpc::SecuritySummary(!config.tls().cert_file().empty(), !config.tls().client_ca_file().empty(),
                                 !token->empty()) + ")" +
            (metrics_http ? "; /metrics on port " + std::to_string(metrics_http->port()) : ""));
  if (Status st = rpc::WritePortFile(flags->Get("port-file"), server->port, metrics_http ? metrics_http->port() : 0); !st.ok()) return Fail(st);

  int sig = rpc::WaitForStop();
  log::Info("signal " + std::to_string(sig) + ": shutting down");
  batcher.Shutdown();
  server->server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  if (metrics_http) metrics_http->Stop();
  return 0;
}

}  // namespace
}  // namespace maskgrpo::reward

int main(int argc, char** argv) {
  maskgrpo::rpc::BlockStopSignals();
  maskgrpo::log::Init("reward_server");
  return maskgrpo::reward::Run(std::vector<std::string>(argv + 1, argv + argc));
}
