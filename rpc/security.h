// Transport security and authentication of the gRPC links, from the typed configs:
// server TLS and mutual TLS, client TLS, and a bearer token that servers check on every
// RPC of their service (constant-time comparison) and clients attach to every call.
#pragma once

#include <grpcpp/client_context.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server_context.h>

#include <memory>
#include <string>

#include "core/status.h"
#include "maskgrpo/service_config.pb.h"

namespace maskgrpo::rpc {

// Insecure credentials for an empty cert_file. Errors name `field` and the file.
StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(const config::ServerTlsConfig& tls,
                                                                         const std::string& field);

// A channel to `address` with TLS as configured (plaintext when tls.enabled is false).
// `args` carries any other channel options.
StatusOr<std::shared_ptr<grpc::Channel>> MakeChannel(const std::string& address, const config::ClientTlsConfig& tls,
                                                     grpc::ChannelArguments args, const std::string& field);

// The configured token ("" = none). Errors (unreadable or empty file, unset variable, both
// sources set) name `field`; the token's value never appears in a message.
StatusOr<std::string> LoadToken(const config::AuthConfig& auth, const std::string& field);

// Checks the "authorization: Bearer <token>" metadata of a call. An empty token lets
// every call through.
class TokenChecker {
 public:
  explicit TokenChecker(const std::string& token);
  bool enabled() const { return !expected_.empty(); }
  // OK, or UNAUTHENTICATED saying whether the token was missing or wrong.
  grpc::Status Check(const grpc::ServerContext& context) const;

 private:
  std::string expected_;  // "Bearer <token>"
};

// Adds the token to a call's metadata (no-op for "").
void AttachToken(grpc::ClientContext* context, const std::string& token);

// "plaintext", "TLS" or "mutual TLS", and whether a token is required, for start-up logs.
std::string SecuritySummary(bool tls, bool mutual_tls, bool token);

// True when a and b are equal; the time taken depends only on their lengths.
bool ConstantTimeEquals(const std::string& a, const std::string& b);

}  // namespace maskgrpo::rpc
