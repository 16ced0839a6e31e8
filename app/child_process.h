// Child processes for the local launcher: started with their output in a log file, asked
// to stop with SIGTERM, killed if they do not. A child dies with the launcher
// (PR_SET_PDEATHSIG), so a killed launcher leaves nothing behind.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/status.h"

namespace maskgrpo::app {

class ChildProcess {
 public:
  // argv[0] is the executable's path.
  static StatusOr<ChildProcess> Start(const std::string& name, const std::vector<std::string>& argv,
                                      const std::string& log_path);
  ChildProcess() = default;

  const std::string& name() const { return name_; }
  const std::string& log_path() const { return log_path_; }
  pid_t pid() const { return pid_; }
  bool running() const { return running_; }
  // Non-blocking; true when the child has exited (the status is then available).
  bool Poll();
  // A description of how it ended: "exited with status 1", "killed by signal 9".
  std::string ExitDescription() const;
  bool exited_cleanly() const { return !running_ && exited_ && exit_code_ == 0; }
  // SIGTERM, wait up to `grace_ms`, then SIGKILL; returns once it is gone.
  void Stop(int grace_ms);

 private:
  std::string name_, log_path_;
  pid_t pid_ = -1;
  bool running_ = false;
  bool exited_ = false;
  int exit_code_ = 0;
  int signal_ = 0;
};

// The directory of the running executable (where its sibling binaries are), or "." if
// /proc/self/exe cannot be read.
std::string ExecutableDir();

// Waits for the port file a server child writes once it listens ("grpc=P\nmetrics=M\n",
// rpc::WritePortFile); fails early, naming the child and its log, if the child dies first.
StatusOr<std::map<std::string, int>> WaitForPorts(ChildProcess* child, const std::string& path, int64_t timeout_ms);

}  // namespace maskgrpo::app
