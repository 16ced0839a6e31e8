// learner: the central Mask-GRPO learner service (gRPC service maskgrpo.v1.Learner).
//   learner [--config F] [--listen HOST:PORT] [--metrics-listen HOST:PORT] [--port-file F]
//           [--out DIR] [--init MODEL] [--updates N] [--threads N] [--device D]
// Resumes from the run folder's latest checkpoint when there is one.
#include <prometheus/registry.h>

#include <atomic>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "app/config.h"
#include "app/flags.h"
#include "learner/learner_config.h"
#include "core/runtime.h"
#include "learner/learner_core.h"
#include "learner/learner_metrics.h"
#include "learner/learner_service.h"
#include "rpc/log.h"
#include "rpc/metrics_http.h"
#include "rpc/security.h"
#include "rpc/server_util.h"

namespace maskgrpo::learner {
namespace {

const char kUsage[] =
    "usage: learner [--config F] [--listen HOST:PORT] [--metrics-listen HOST:PORT] [--port-file F]\n"
    "               [--out DIR] [--init MODEL] [--updates N] [--threads N] [--device D]\n"
    "       learner --config F --verify-checkpoint DIR   (loads a checkpoint folder as a resume would,\n"
    "               checks weights and optimiser state for NaN/Inf, prints JSON; exit 0 when sound)\n"
    "  config: maskgrpo.config.LearnerServerConfig in protobuf text format (configs/learner.textproto)\n";

int Fail(const Status& s) {
  log::Error(s.ToString());
  return 1;
}

int Run(const std::vector<std::string>& args) {
  if (app::Flags::WantsHelp(args)) {
    std::fputs(kUsage, stdout);
    return 0;
  }
  auto flags = app::Flags::Parse(args, {"config", "listen", "metrics-listen", "port-file", "out", "init", "updates",
                                        "threads", "device", "verify-checkpoint"});
  if (!flags.ok()) {
    std::fprintf(stderr, "%s\n%s", flags.status().message().c_str(), kUsage);
    return 2;
  }
  config::LearnerServerConfig config;
  if (Status st = LoadLearnerServerConfig(flags->Get("config"), &config); !st.ok()) return Fail(st);
  if (flags->Has("listen")) config.set_listen(flags->Get("listen"));
  if (flags->Has("metrics-listen")) config.set_metrics_listen(flags->Get("metrics-listen"));
  if (flags->Has("out")) config.mutable_train()->set_out_dir(flags->Get("out"));
  if (flags->Has("init")) config.mutable_train()->set_init_model(flags->Get("init"));
  int64_t updates = config.train().updates();
  if (Status st = flags->GetInt("updates", &updates); !st.ok()) return Fail(st);
  config.mutable_train()->set_updates(updates);
  if (Status st = app::ApplyRuntimeFlags(*flags, config.mutable_train()->mutable_runtime()); !st.ok()) return Fail(st);
  auto options = ToLearnerCoreOptions(config);
  if (!options.ok()) return Fail(options.status());
  if (flags->Has("verify-checkpoint")) {
    auto verified = LearnerCore::VerifyCheckpoint(*options, flags->Get("verify-checkpoint"));
    if (!verified.ok()) {
      Json out;
      out["dir"] = flags->Get("verify-checkpoint");
      out["ok"] = false;
      out["error"] = verified.status().ToString();
      std::printf("%s\n", out.Dump().c_str());
      return 1;
    }
    std::printf("%s\n", verified->Dump().c_str());
    return verified->Find("ok")->as_bool() ? 0 : 1;
  }
  // Security material is checked before anything is written to the run folder.
  auto credentials = rpc::MakeServerCredentials(config.tls(), "tls");
  if (!credentials.ok()) return Fail(credentials.status());
  auto token = rpc::LoadToken(config.auth(), "auth");
  if (!token.ok()) return Fail(token.status());
  if (Status st = app::SnapshotRunConfig(options->train.out_dir, config); !st.ok()) return Fail(st);
  ConfigureThreads(config.train().runtime().threads());

  auto registry = std::make_shared<prometheus::Registry>();
  LearnerMetrics metrics(*registry);
  LearnerHooks hooks;
  hooks.log = [](const std::string& line) { log::Info(line); };
  hooks.on_update = [&metrics](const grpo::UpdateStats& s, double staleness) { metrics.Update(s, staleness); };
  hooks.on_eval = [&metrics](int64_t, const Json& line) { metrics.Eval(line); };
  hooks.on_components = [&metrics](const std::map<std::string, double>& means,
                                    const std::map<std::string, double>& baseline,
                                    double reward_baseline) { metrics.Components(means, baseline, reward_baseline); };
  auto core = LearnerCore::Create(*options, hooks);
  if (!core.ok()) return Fail(core.status());

  std::unique_ptr<rpc::MetricsHttpServer> metrics_http;
  if (!config.metrics_listen().empty()) {
    auto started = rpc::MetricsHttpServer::Start(config.metrics_listen(), registry);
    if (!started.ok()) return Fail(started.status());
    metrics_http = std::move(*started);
  }
  LearnerService service(core->get(), &metrics, *token);
  rpc::GrpcServerOptions server_options;
  server_options.listen = config.listen();
  server_options.credentials = *credentials;
  auto server = rpc::StartGrpcServer(server_options, {&service});
  if (!server.ok()) return Fail(server.status());
  log::Info("serving maskgrpo.v1.Learner on port " + std::to_string(server->port) + " (" +
            rpc::SecuritySummary(!config.tls().cert_file().empty(), !config.tls().client_ca_file().empty(),
                                 !token->empty()) +
            "); run folder " + options->train.out_dir + (metrics_http ? "; /metrics on port " + std::to_string(metrics_http->port()) : ""));
  if (Status st = rpc::WritePortFile(flags->Get("port-file"), server->port, metrics_http ? metrics_http->port() : 0);
      !st.ok()) {
    return Fail(st);
  }

  std::atomic<bool> done{false};
  Status run_status;
  std::thread owner([&] {
    run_status = (*core)->Run();
    done = true;
  });
  const int sig = rpc::WaitForStop([&] {
    metrics.Sync((*core)->GetStatus());
    return done.load();
  });
  if (sig != 0) {
    log::Info("signal " + std::to_string(sig) + ": stopping after the current step (a checkpoint is written)");
    (*core)->Stop();
  }
  owner.join();
  metrics.Sync((*core)->GetStatus());
  if (sig == 0 && run_status.ok()) {
    if (config.linger_ms() < 0) {
      // Kubernetes restarts a process that exits, even with 0: the finished learner stays up.
      log::Info("training finished: serving until stopped (linger_ms -1)");
      rpc::WaitForStop([&] {
        metrics.Sync((*core)->GetStatus());
        return false;
      });
      log::Info("stopping");
    } else {
      // Let the workers see `finished` on their next lease before the port closes.
      std::this_thread::sleep_for(std::chrono::milliseconds(config.linger_ms()));
    }
  }
  server->server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  if (metrics_http) metrics_http->Stop();
  return run_status.ok() ? 0 : Fail(run_status);
}

}  // namespace
}  // namespace maskgrpo::learner

int main(int argc, char** argv) {
  maskgrpo::rpc::BlockStopSignals();
  maskgrpo::log::Init("learner");
  return maskgrpo::learner::Run(std::vector<std::string>(argv + 1, argv + argc));
}
