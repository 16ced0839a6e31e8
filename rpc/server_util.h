// What every server process does the same way: a gRPC server with health checking and
// reflection, the bound port announced (stdout and an optional port file for the
// launcher), and a clean stop on SIGINT / SIGTERM.
#pragma once

#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server.h>

#include <cstdint>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/status.h"

namespace maskgrpo::rpc {

struct GrpcServerOptions {
  std::string listen = "127.0.0.1:0";  // port 0: any free port
  int max_receive_bytes = 64 << 20;     // larger messages get RESOURCE_EXHAUSTED from gRPC
  std::shared_ptr<grpc::ServerCredentials> credentials;  // null = plaintext (rpc::MakeServerCredentials)
  int64_t max_connection_age_ms = 0;  // > 0: close connections this old (clients re-resolve DNS)
};

struct StartedServer {
  std::unique_ptr<grpc::Server> server;
  int port = 0;
};

// Health checking (grpc.health.v1, overall status SERVING) and server reflection on.
StatusOr<StartedServer> StartGrpcServer(const GrpcServerOptions& options, const std::vector<grpc::Service*>& services);

// Writes "grpc=PORT\nmetrics=PORT\n" to `path` atomically (temp file + rename), for the
// launcher; metrics_port 0 = none. No-op for an empty path.
Status WritePortFile(const std::string& path, int grpc_port, int metrics_port);

// Call first in main(), before any thread starts, so that every thread inherits the mask
// and the signals are only seen by WaitForStop.
void BlockStopSignals();
// Returns the signal (SIGINT / SIGTERM) that arrived, or 0 once `done()` is true (polled
// every 100 ms; may be null).
int WaitForStop(const std::function<bool()>& done = nullptr);

}  // namespace maskgrpo::rpc
