#include "app/child_process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <thread>

namespace maskgrpo::app {

StatusOr<ChildProcess> ChildProcess::Start(const std::string& name, const std::vector<std::string>& argv,
                                           const std::string& log_path) {
  if (argv.empty()) return InvalidArgument("child " + name + ": empty command");
  if (access(argv[0].c_str(), X_OK) != 0) return NotFound("child " + name + ": " + argv[0] + " is not executable");
  const int log_fd = open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log_fd < 0) return FailedPrecondition("cannot open log " + log_path + ": " + std::strerror(errno));
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const pid_t parent = getpid();
  const pid_t child_pid = fork();
  if (child_pid < 0) {
    close(log_fd);
    return Internal(std::string("fork failed: ") + std::strerror(errno));
  }
  if (child_pid == 0) {
    // In the child: only async-signal-safe calls until exec.
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent) _exit(127);  // the launcher died before prctl took effect
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);  // the launcher blocks SIGINT/SIGTERM; children must not
    dup2(log_fd, STDOUT_FILENO);
    dup2(log_fd, STDERR_FILENO);
    execv(args[0], args.data());
    _exit(127);
  }
  close(log_fd);
  ChildProcess child;
  child.name_ = name;
  child.log_path_ = log_path;
  child.pid_ = child_pid;
  child.running_ = true;
  return child;
}

bool ChildProcess::Poll() {
  if (!running_) return true;
  int status = 0;
  const pid_t r = waitpid(pid_, &status, WNOHANG);
  if (r == 0) return false;
  running_ = false;
  if (r == pid_ && WIFEXITED(status)) {
    exited_ = true;
    exit_code_ = WEXITSTATUS(status);
  } else if (r == pid_ && WIFSIGNALED(status)) {
    signal_ = WTERMSIG(status);
  }
  return true;
}

std::string ChildProcess::ExitDescription() const {
  if (running_) return "running";
  if (exited_) return "exited with status " + std::to_string(exit_code_);
  if (signal_) return "killed by signal " + std::to_string(signal_) + " (" + strsignal(signal_) + ")";
  return "ended";
}

void ChildProcess::Stop(int grace_ms) {
  if (Poll()) return;
  kill(pid_, SIGTERM);
  const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(grace_ms);
  while (std::chrono::steady_clock::now() < until) {
    if (Poll()) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  kill(pid_, SIGKILL);
  while (!Poll()) std::this_thread::sleep_for(std::chrono::milliseconds(20));
}

// Waits for a child's port file ("grpc=P\nmetrics=M\n"); fails early if the child dies.
std::string ExecutableDir() {
  std::error_code ec;
  auto p = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? std::string(".") : p.parent_path().string();
}

StatusOr<std::map<std::string, int>> WaitForPorts(ChildProcess* child, const std::string& path, int64_t timeout_ms) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (std::chrono::steady_clock::now() < until) {
    if (child->Poll()) {
      return FailedPrecondition(child->name() + " " + child->ExitDescription() + " during start-up; see " +
                                child->log_path());
    }
    if (std::filesystem::exists(path)) {
      std::ifstream in(path);
      std::map<std::string, int> ports;
      for (std::string line; std::getline(in, line);) {
        auto eq = line.find('=');
        if (eq != std::string::npos) ports[line.substr(0, eq)] = std::atoi(line.substr(eq + 1).c_str());
      }
      return ports;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return Status(StatusCode::kDeadlineExceeded, child->name() + " did not start within " +
                                                   std::to_string(timeout_ms / 1000) + "s; see " + child->log_path());
}

}  // namespace maskgrpo::app
