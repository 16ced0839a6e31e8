// `maskgrpo launch`: the whole distributed system on one machine. Starts the reward
// server(s), the learner and N rollout workers as child processes on 127.0.0.1 (free
// ports), shows one live progress line, stops everything on Ctrl-C or when a child dies
// (naming it and its log), and writes report.html into the run folder at the end.
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <thread>

#include <cstdlib>

#include "app/child_process.h"
#include "app/commands.h"
#include "app/config.h"
#include "app/flags.h"
#include "app/report.h"
#include "core/grpo/run_folder.h"
#include "core/safetensors.h"
#include "maskgrpo/learner.grpc.pb.h"
#include "maskgrpo/service_config.pb.h"
#include "rpc/security.h"
#include "rpc/server_util.h"

namespace maskgrpo::app {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

struct Launch {
  config::LaunchConfig c;
  std::string out, logs, ports;
  std::vector<ChildProcess> rewards, workers;
  ChildProcess learner;

  void StopAll() {
    for (auto& w : workers) w.Stop(5000);
    learner.Stop(30000);  // it writes a checkpoint on SIGTERM
    for (auto& r : rewards) r.Stop(5000);
  }
  // The first child that ended when it should not have, or null. A worker exits 0 only
  // after the learner reported training finished; anything else is a death.
  ChildProcess* Dead() {
    for (auto& ch : rewards) {
      if (ch.Poll()) return &ch;
    }
    for (auto& ch : workers) {
      if (ch.Poll() && !ch.exited_cleanly()) return &ch;
    }
    if (learner.Poll() && !learner.exited_cleanly()) return &learner;
    return nullptr;
  }
};

// Late groups were scored too (their lease expired before they arrived); invalid ones may
// not have been.
int64_t ImagesScored(const v1::LearnerStatus& s, int64_t group_size) {
  return (s.groups_accepted() + s.groups_resampled() + s.groups_dropped() + s.groups_stale() + s.groups_late()) *
         group_size;
}

// Rates count from `first`, the first status this launch saw: a resumed learner's counters
// include the work of earlier runs.
std::string ProgressLine(const v1::LearnerStatus& s, double elapsed, const v1::LearnerStatus& first,
                         int64_t group_size) {
  const int64_t images = ImagesScored(s, group_size) - ImagesScored(first, group_size);
  const int64_t done = s.policy_version() - first.policy_version();
  const double eta = done > 0 ? elapsed / done * (s.target_updates() - s.policy_version()) : 0;
  char buf[256];
  std::snprintf(buf, sizeof(buf), "version %lld/%lld  %.1f images/s  reward %.3f  eval %s  elapsed %s  ETA %s",
                static_cast<long long>(s.policy_version()), static_cast<long long>(s.target_updates()),
                elapsed > 0 ? images / elapsed : 0.0, s.last_reward_mean(),
                s.last_eval_version() >= 0
                    ? (std::to_string(s.last_eval_overall()).substr(0, 5) + " @v" + std::to_string(s.last_eval_version())).c_str()
                    : "-",
                grpo::FormatDuration(elapsed).c_str(), done > 0 ? grpo::FormatDuration(eta).c_str() : "-");
  return buf;
}

// Ends the progress line first, so the error starts a line of its own.
int FailAfterProgress(const Status& st) {
  std::fputc('\n', stderr);
  return ReportError(st);
}

}  // namespace

int LaunchCommand(const std::vector<std::string>& args) {
  auto flags = Flags::Parse(args, {"config", "out", "workers", "reward-servers", "updates", "bin-dir"});
  if (!flags.ok()) return FailAfterProgress(flags.status());
  // Transparent huge pages for the children's heaps (core/runtime.h); a user's own setting wins.
  setenv("GLIBC_TUNABLES", "glibc.malloc.hugetlb=1", /*overwrite=*/0);
  Launch L;
  L.c = DefaultLaunchConfig();
  if (Status st = LoadTextConfig(flags->Get("config"), &L.c); !st.ok()) return FailAfterProgress(st);
  int64_t workers = L.c.workers(), rewards = L.c.reward_servers(), updates = L.c.updates();
  if (Status st = flags->GetInt("workers", &workers); !st.ok()) return FailAfterProgress(st);
  if (Status st = flags->GetInt("reward-servers", &rewards); !st.ok()) return FailAfterProgress(st);
  if (Status st = flags->GetInt("updates", &updates); !st.ok()) return FailAfterProgress(st);
  if (flags->Has("out")) L.c.set_out_dir(flags->Get("out"));
  if (flags->Has("bin-dir")) L.c.set_bin_dir(flags->Get("bin-dir"));
  if (workers < 1 || workers > 64) return FailAfterProgress(InvalidArgument("workers must be in [1, 64]"));
  if (rewards < 1 || rewards > 16) return FailAfterProgress(InvalidArgument("reward_servers must be in [1, 16]"));
  // The launcher polls the learner as a worker does: with the worker config's TLS and token.
  config::RolloutWorkerConfig worker_config;
  if (Status st = LoadTextConfig(L.c.worker_config(), &worker_config); !st.ok()) return FailAfterProgress(st);
  // The launch ends when the learner exits and the workers with it: the settings that keep a
  // finished learner or worker up (for Kubernetes) would hold it forever.
  if (worker_config.stay_after_finish()) {
    return FailAfterProgress(InvalidArgument(L.c.worker_config() +
                                             ": stay_after_finish is for Kubernetes; the launch ends when "
                                             "the workers exit (remove it)"));
  }
  config::LearnerServerConfig learner_config;
  if (Status st = LoadTextConfig(L.c.learner_config(), &learner_config); !st.ok()) return FailAfterProgress(st);
  if (learner_config.linger_ms() < 0) {
    return FailAfterProgress(InvalidArgument(L.c.learner_config() +
                                             ": linger_ms -1 (serve until stopped) is for Kubernetes; the "
                                             "launch ends when the learner exits (set linger_ms >= 0)"));
  }
  auto learner_token = rpc::LoadToken(worker_config.learner_auth(), L.c.worker_config() + ": learner_auth");
  if (!learner_token.ok()) return FailAfterProgress(learner_token.status());
  if (updates < 0) return FailAfterProgress(InvalidArgument("updates must be >= 0"));
  const std::string bin = L.c.bin_dir().empty() ? ExecutableDir() : L.c.bin_dir();
  L.out = L.c.out_dir();
  L.logs = L.out + "/logs";
  L.ports = L.out + "/ports";
  for (const auto& d : {L.out, L.logs, L.ports}) {
    if (Status st = grpo::EnsureDir(d); !st.ok()) return FailAfterProgress(st);
  }
  for (const auto& e : fs::directory_iterator(L.ports)) fs::remove(e.path());
  rpc::BlockStopSignals();

  auto start_child = [&](const std::string& name, std::vector<std::string> argv) -> StatusOr<ChildProcess> {
    argv.push_back("--port-file");
    argv.push_back(L.ports + "/" + name);
    argv.push_back("--metrics-listen");
    argv.push_back("127.0.0.1:0");
    return ChildProcess::Start(name, argv, L.logs + "/" + name + ".log");
  };
  auto abort_all = [&](const Status& st) {
    L.StopAll();
    return FailAfterProgress(st);
  };

  std::printf("launch: %lld reward server(s), 1 learner, %lld rollout worker(s); run folder %s, logs in %s\n",
              static_cast<long long>(rewards), static_cast<long long>(workers), L.out.c_str(), L.logs.c_str());
  std::string reward_addresses;
  for (int i = 0; i < rewards; ++i) {
    const std::string name = "reward_server" + std::to_string(i);
    auto child = start_child(name, {bin + "/reward_server", "--config", L.c.reward_config(), "--listen", "127.0.0.1:0"});
    if (!child.ok()) return abort_all(child.status());
    L.rewards.push_back(std::move(*child));
    auto ports = WaitForPorts(&L.rewards.back(), L.ports + "/" + name, L.c.startup_timeout_ms());
    if (!ports.ok()) return abort_all(ports.status());
    reward_addresses += (reward_addresses.empty() ? "" : ",") + std::string("127.0.0.1:") + std::to_string((*ports)["grpc"]);
  }
  std::vector<std::string> learner_argv = {bin + "/learner", "--config", L.c.learner_config(), "--listen",
                                           "127.0.0.1:0", "--out", L.out, "--threads",
                                           std::to_string(L.c.learner_threads())};
  if (updates > 0) {
    learner_argv.push_back("--updates");
    learner_argv.push_back(std::to_string(updates));
  }
  auto learner = start_child("learner", learner_argv);
  if (!learner.ok()) return abort_all(learner.status());
  L.learner = std::move(*learner);
  // The learner loads its model and checkpoint before it opens its port: allow for that.
  auto learner_ports = WaitForPorts(&L.learner, L.ports + "/learner", L.c.startup_timeout_ms() * 5);
  if (!learner_ports.ok()) return abort_all(learner_ports.status());
  const std::string learner_address = "127.0.0.1:" + std::to_string((*learner_ports)["grpc"]);
  for (int i = 0; i < workers; ++i) {
    const std::string name = "rollout_worker" + std::to_string(i);
    std::vector<std::string> argv = {bin + "/rollout_worker", "--config", L.c.worker_config(), "--learner",
                                     learner_address, "--reward-servers", reward_addresses, "--worker-id", name,
                                     "--threads", std::to_string(L.c.worker_threads())};
    // Each worker can serve the weights it holds to the others; the learner's weights_fanout
    // decides whether they are asked to. A plaintext relay on loopback, so not with learner
    // TLS (a worker config with relay_tls sets its own relay_listen).
    if (!worker_config.learner_tls().enabled() && worker_config.relay_listen().empty()) {
      argv.insert(argv.end(), {"--relay-listen", "127.0.0.1:0"});
    }
    auto child = start_child(name, argv);
    if (!child.ok()) return abort_all(child.status());
    L.workers.push_back(std::move(*child));
  }

  auto channel = rpc::MakeChannel(learner_address, worker_config.learner_tls(), grpc::ChannelArguments(),
                                  L.c.worker_config() + ": learner_tls");
  if (!channel.ok()) return abort_all(channel.status());
  auto stub = v1::Learner::NewStub(*channel);
  const auto start = Clock::now();
  std::optional<v1::LearnerStatus> first_status;
  int64_t group_size = 8;
  const bool tty = isatty(STDOUT_FILENO);
  std::string last_line;
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  while (true) {
    timespec wait{1, 0};
    if (int sig = sigtimedwait(&stop_signals, nullptr, &wait); sig > 0) {
      std::printf("\nlaunch: signal %d, stopping every process (the learner writes a checkpoint)\n", sig);
      L.StopAll();
      return 130;
    }
    const bool learner_done = L.learner.Poll() && L.learner.exited_cleanly();
    if (ChildProcess* dead = L.Dead()) {
      const std::string what = dead->name() + " " + dead->ExitDescription() + "; its log: " + dead->log_path();
      L.StopAll();
      return FailAfterProgress(Internal(what));
    }
    if (learner_done) break;
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
    rpc::AttachToken(&context, *learner_token);
    v1::LearnerStatus status;
    if (stub->GetStatus(&context, v1::StatusRequest(), &status).ok()) {
      if (!first_status) first_status = status;
      const std::string line = ProgressLine(status, std::chrono::duration<double>(Clock::now() - start).count(),
                                            *first_status, group_size);
      if (tty) {
        std::printf("\r%-110s", line.c_str());
        std::fflush(stdout);
      } else if (line.substr(0, line.find("  ")) != last_line.substr(0, last_line.find("  "))) {
        std::printf("%s\n", line.c_str());  // one line per new version when not on a terminal
        std::fflush(stdout);
      }
      last_line = line;
    }
  }
  std::printf("\nlaunch: the learner finished; stopping the workers and reward servers\n");
  for (auto& w : L.workers) w.Stop(15000);
  for (auto& r : L.rewards) r.Stop(5000);
  if (Status st = WriteRunReport(L.out, "maskgrpo run: " + L.out); !st.ok()) return FailAfterProgress(st);
  std::printf("launch: report %s/report.html\n", L.out.c_str());
  return 0;
}

}  // namespace maskgrpo::app
