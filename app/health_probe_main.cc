// maskgrpo_health_probe: asks a server's gRPC health service whether it is SERVING, for
// Docker HEALTHCHECK and Kubernetes exec probes (Kubernetes' own gRPC probe cannot speak
// TLS). Exit status 0 = SERVING, 1 = anything else, 2 = bad flags.
//   maskgrpo_health_probe --address HOST:PORT [--timeout-ms N] [--service NAME]
//                         [--tls-ca F] [--tls-cert F --tls-key F] [--server-name NAME]
#include <grpcpp/client_context.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "app/flags.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "rpc/security.h"

namespace {

const char kUsage[] =
    "usage: maskgrpo_health_probe --address HOST:PORT [--timeout-ms N] [--service NAME] [--tls-ca F]\n"
    "                             [--tls-cert F --tls-key F] [--server-name NAME]\n"
    "  asks the gRPC health service; prints SERVING and exits 0 when the server is serving, else 1\n";

int Probe(const std::vector<std::string>& args) {
  if (maskgrpo::app::Flags::WantsHelp(args)) {
    std::fputs(kUsage, stdout);
    return 0;
  }
  auto flags = maskgrpo::app::Flags::Parse(
      args, {"address", "timeout-ms", "service", "tls-ca", "tls-cert", "tls-key", "server-name"});
  int64_t timeout_ms = 3000;
  if (flags.ok()) {
    if (auto st = flags->GetInt("timeout-ms", &timeout_ms); !st.ok()) flags = st;
  }
  if (!flags.ok() || !flags->Has("address") || timeout_ms < 1) {
    std::fprintf(stderr, "%s\n%s", flags.ok() ? "--address is required and --timeout-ms must be >= 1" : flags.status().message().c_str(), kUsage);
    return 2;
  }
  maskgrpo::config::ClientTlsConfig tls;
  tls.set_enabled(flags->Has("tls-ca") || flags->Has("tls-cert") || flags->Has("server-name"));
  tls.set_ca_file(flags->Get("tls-ca"));
  tls.set_cert_file(flags->Get("tls-cert"));
  tls.set_key_file(flags->Get("tls-key"));
  tls.set_server_name(flags->Get("server-name"));
  auto channel = maskgrpo::rpc::MakeChannel(flags->Get("address"), tls, grpc::ChannelArguments(), "tls");
  if (!channel.ok()) {
    std::fprintf(stderr, "%s\n", channel.status().message().c_str());
    return 2;
  }
  auto stub = grpc::health::v1::Health::NewStub(*channel);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(timeout_ms));
  grpc::health::v1::HealthCheckRequest request;
  request.set_service(flags->Get("service"));
  grpc::health::v1::HealthCheckResponse reply;
  grpc::Status s = stub->Check(&context, request, &reply);
  if (!s.ok()) {
    std::fprintf(stderr, "%s: %s\n", flags->Get("address").c_str(), s.error_message().c_str());
    return 1;
  }
  std::printf("%s: %s\n", flags->Get("address").c_str(),
              grpc::health::v1::HealthCheckResponse::ServingStatus_Name(reply.status()).c_str());
  return reply.status() == grpc::health::v1::HealthCheckResponse::SERVING ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) { return Probe(std::vector<std::string>(argv + 1, argv + argc)); }
