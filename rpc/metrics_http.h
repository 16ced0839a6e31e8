// A minimal HTTP endpoint serving GET /metrics from a prometheus-cpp registry.
//
// Why not prometheus-cpp's Exposer: its civetweb threads start with a small fixed stack, and
// in a process that links LibTorch + OpenBLAS their thread-local storage does not fit, so
// the Exposer throws at start (docs: environment.md). One plain thread with poll() is all a
// scrape endpoint needs. Thread-safe; Stop() (or the destructor) joins the thread.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <thread>

#include "core/status.h"

namespace prometheus {
class Registry;
}

namespace maskgrpo::rpc {

class MetricsHttpServer {
 public:
  // listen: "host:port" (port 0 = any free port). The registry must outlive the server.
  static StatusOr<std::unique_ptr<MetricsHttpServer>> Start(const std::string& listen,
                                                            std::shared_ptr<prometheus::Registry> registry);
  ~MetricsHttpServer();
  void Stop();
  int port() const { return port_; }

 private:
  MetricsHttpServer() = default;
  void Loop();
  void Serve(int client);

  std::shared_ptr<prometheus::Registry> registry_;
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// Splits "host:port" (IPv4 or a name; "[v6]:port" too); error names `field`.
StatusOr<std::pair<std::string, int>> SplitHostPort(const std::string& address, const std::string& field);

}  // namespace maskgrpo::rpc
