// Shared by the multi-process tests: starts the real binaries with their output in log
// files under a temporary folder, reads the ports they announce, and always stops them.
#pragma once

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <grpcpp/client_context.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <functional>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "app/child_process.h"
#include "maskgrpo/learner.grpc.pb.h"

namespace maskgrpo::testing {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

struct Ports {
  int grpc = 0;
  int metrics = 0;
};

class ServiceFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("maskgrpo_" + std::to_string(::getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override {
    for (auto& [name, p] : procs_) p.Stop(5000);
    if (!HasFailure()) fs::remove_all(dir_);
  }

  // Starts bin/`binary` as `name` (a restart of a name replaces it) and waits for its port file.
  Ports Start(const std::string& name, const std::string& binary, std::vector<std::string> args) {
    const std::string port_file = (dir_ / (name + ".port")).string();
    fs::remove(port_file);
    std::vector<std::string> argv = {std::string(MASKGRPO_BIN_DIR) + "/" + binary};
    argv.insert(argv.end(), args.begin(), args.end());
    argv.insert(argv.end(), {"--port-file", port_file, "--metrics-listen", "127.0.0.1:0"});
    auto child = app::ChildProcess::Start(name, argv, (dir_ / (name + ".log")).string());
    EXPECT_TRUE(child.ok()) << child.status().ToString();
    if (procs_.count(name)) procs_[name].Stop(5000);
    procs_[name] = std::move(*child);
    const auto until = Clock::now() + std::chrono::seconds(120);
    while (Clock::now() < until && !fs::exists(port_file)) {
      if (procs_[name].Poll()) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    Ports ports;
    std::ifstream in(port_file);
    for (std::string line; std::getline(in, line);) {
      if (line.rfind("grpc=", 0) == 0) ports.grpc = std::stoi(line.substr(5));
      if (line.rfind("metrics=", 0) == 0) ports.metrics = std::stoi(line.substr(8));
    }
    EXPECT_TRUE(fs::exists(port_file)) << name << " did not start; log: " << Log(name);
    return ports;
  }

  void Kill(const std::string& name) {
    auto& p = procs_.at(name);
    ::kill(p.pid(), SIGKILL);
    while (!p.Poll()) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }

  app::ChildProcess& Proc(const std::string& name) { return procs_.at(name); }
  std::string Log(const std::string& name) const { return (dir_ / (name + ".log")).string(); }
  std::string LogText(const std::string& name) const {
    std::ifstream in(Log(name));
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  }
  // Polls `name`'s log until it holds `text` (true) or `seconds` pass (false).
  bool WaitForLogLine(const std::string& name, const std::string& text, int seconds = 60) const {
    const auto until = Clock::now() + std::chrono::seconds(seconds);
    while (Clock::now() < until) {
      if (LogText(name).find(text) != std::string::npos) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
  }
  // The address a worker's log says its weights relay serves at ("?" if none).
  static std::string RelayAddressIn(const std::string& log) {
    const size_t at = log.find("weights relay on ");
    return at == std::string::npos ? std::string("?") : log.substr(at + 17, log.find(' ', at + 17) - at - 17);
  }

  std::string WriteConfig(const std::string& name, const std::string& text) {
    const auto path = dir_ / name;
    std::ofstream(path) << text;
    return path.string();
  }

  // A tiny learner run: `updates` updates of 2 groups x 4 images, 4 unmasking steps.
  // `extra` adds server fields, `train_extra` fields of its `train` block, `learner_extra`
  // fields of its `train.learner` block.
  std::string LearnerConfig(int updates, const std::string& extra = "", const std::string& train_extra = "",
                            const std::string& learner_extra = "") {
    return WriteConfig("learner.textproto", R"(
      train {
        init_model: ")" + std::string(MASKGRPO_SOURCE_DIR) + R"(/models/shapeworld_base.safetensors"
        group_size: 4 groups_per_update: 2 updates: )" + std::to_string(updates) + R"(
        rollout { steps: 4 }
        learner { minibatches: 1 )" + learner_extra + R"( }
        eval { prompts_per_task: 1 images_per_prompt: 2 grid_images: 0 sampling { steps: 4 } }
        eval_every: 0 checkpoint_every: 1
        runtime { threads: 1 }
        )" + train_extra + R"(
      }
      max_policy_lag: 0
      linger_ms: 2000
      )" + extra);
  }

  // A learner for weight fan-out tests (weights_fanout 1, plus `extra` server fields) whose
  // first update needs 256 groups: it stays at version 0 while workers join one by one.
  std::string FanOutLearnerConfig(const std::string& extra = "") {
    return WriteConfig("learner.textproto", R"(
      train {
        init_model: ")" + std::string(MASKGRPO_SOURCE_DIR) + R"(/models/shapeworld_base.safetensors"
        group_size: 4 groups_per_update: 256 updates: 1
        rollout { steps: 2 }
        eval { prompts_per_task: 1 images_per_prompt: 2 grid_images: 0 sampling { steps: 2 } }
        eval_every: 0 checkpoint_every: 1
        runtime { threads: 1 }
      }
      weights_fanout: 1
      )" + extra);
  }

  // A port that was free a moment ago (for a server that must come back on the same one).
  static int FreePort() {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
    socklen_t len = sizeof(addr);
    getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    close(fd);
    return ntohs(addr.sin_port);
  }

  // GET /metrics from a process's metrics port.
  static std::string Scrape(int port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
    std::string reply;
    if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) {
      const std::string request = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
      send(fd, request.data(), request.size(), 0);
      char buf[4096];
      for (ssize_t n; (n = recv(fd, buf, sizeof(buf), 0)) > 0;) reply.append(buf, static_cast<size_t>(n));
    }
    close(fd);
    return reply;
  }

  // The value of a series in a /metrics text ("name{labels}" exactly as printed), or -1.
  static double MetricValue(const std::string& text, const std::string& series) {
    auto at = text.find("\n" + series + " ");
    if (at == std::string::npos) return -1;
    return std::stod(text.substr(at + series.size() + 2));
  }

  static std::unique_ptr<v1::Learner::Stub> LearnerStub(int port) {
    return v1::Learner::NewStub(
        grpc::CreateChannel("127.0.0.1:" + std::to_string(port), grpc::InsecureChannelCredentials()));
  }

  static grpc::Status Call(const std::function<grpc::Status(grpc::ClientContext*)>& f) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    return f(&context);
  }

  // The learner's status; an unreachable learner gives version -1.
  static v1::LearnerStatus GetStatus(v1::Learner::Stub* stub) {
    v1::LearnerStatus s;
    s.set_policy_version(-1);
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    if (!stub->GetStatus(&context, v1::StatusRequest(), &s).ok()) s.set_policy_version(-1);
    return s;
  }

  // What moves when the service makes progress: a new version, a group in or out, a lease
  // issued or expired.
  static std::vector<int64_t> Progress(const v1::LearnerStatus& s) {
    return {s.policy_version(), s.groups_accepted(), s.groups_resampled(), s.groups_dropped(), s.groups_stale(),
            s.groups_late(),    s.groups_invalid(),  s.leases_expired(),   s.prompts_issued()};
  }

  // Polls until `done(status)`; returns the last status. Gives up after `stall_seconds`
  // without progress, or after kMaxWaitSeconds in all. The limit is on stalls, not on total
  // time, because these tests check that the service keeps going, not how fast: under ASan
  // with two test shards on two cores a 20-update run took longer than 300 s while still
  // advancing (CI at 523baef), and a fixed deadline failed it.
  static constexpr int kMaxWaitSeconds = 900;
  static v1::LearnerStatus WaitFor(v1::Learner::Stub* stub, const std::function<bool(const v1::LearnerStatus&)>& done,
                                   int stall_seconds) {
    v1::LearnerStatus s;
    const auto give_up = Clock::now() + std::chrono::seconds(std::max(stall_seconds, kMaxWaitSeconds));
    auto stalled_at = Clock::now() + std::chrono::seconds(stall_seconds);
    std::vector<int64_t> last;
    while (Clock::now() < stalled_at && Clock::now() < give_up) {
      s = GetStatus(stub);
      if (s.policy_version() >= 0 && done(s)) break;
      if (s.policy_version() >= 0 && Progress(s) != last) {
        last = Progress(s);
        stalled_at = Clock::now() + std::chrono::seconds(stall_seconds);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    return s;
  }

  fs::path dir_;
  std::map<std::string, app::ChildProcess> procs_;
};

}  // namespace maskgrpo::testing
