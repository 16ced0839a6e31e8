#include "rpc/server_util.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server_builder.h>

#include <csignal>
#include <cstdio>
#include <ctime>

namespace maskgrpo::rpc {

StatusOr<StartedServer> StartGrpcServer(const GrpcServerOptions& options, const std::vector<grpc::Service*>& services) {
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  StartedServer started;
  builder.AddListeningPort(options.listen, options.credentials ? options.credentials : grpc::InsecureServerCredentials(),
                           &started.port);
  builder.SetMaxReceiveMessageSize(options.max_receive_bytes);
  if (options.max_connection_age_ms > 0) {
    builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_AGE_MS, static_cast<int>(options.max_connection_age_ms));
    // In-flight calls get this long to finish when an old connection is closed.
    builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_AGE_GRACE_MS, 30000);
  }
  for (auto* s : services) builder.RegisterService(s);
  started.server = builder.BuildAndStart();
  if (!started.server || started.port == 0) {
    return Status(StatusCode::kUnavailable, "cannot listen on '" + options.listen + "' (address in use or invalid)");
  }
  started.server->GetHealthCheckService()->SetServingStatus(true);
  return started;
}

Status WritePortFile(const std::string& path, int grpc_port, int metrics_port) {
  if (path.empty()) return Status::Ok();
  const std::string tmp = path + ".tmp";
  FILE* f = std::fopen(tmp.c_str(), "w");
  if (!f) return InvalidArgument("port file " + path + ": cannot write");
  std::fprintf(f, "grpc=%d\nmetrics=%d\n", grpc_port, metrics_port);
  if (std::fclose(f) != 0 || std::rename(tmp.c_str(), path.c_str()) != 0) {
    return InvalidArgument("port file " + path + ": cannot write");
  }
  return Status::Ok();
}

void BlockStopSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

int WaitForStop(const std::function<bool()>& done) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  while (true) {
    timespec timeout{0, 100 * 1000 * 1000};
    int sig = sigtimedwait(&set, nullptr, &timeout);
    if (sig > 0) return sig;
    if (done && done()) return 0;
  }
}

}  // namespace maskgrpo::rpc
