#include "rpc/security.h"

#include <grpcpp/security/credentials.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

namespace maskgrpo::rpc {
namespace {

StatusOr<std::string> ReadFile(const std::string& path, const std::string& field) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return InvalidArgument(field + ": cannot read '" + path + "'");
  std::stringstream ss;
  ss << in.rdbuf();
  if (ss.str().empty()) return InvalidArgument(field + ": '" + path + "' is empty");
  return ss.str();
}

std::string Trim(const std::string& s) {
  const char* ws = " \t\r\n";
  const size_t b = s.find_first_not_of(ws);
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(ws) - b + 1);
}

}  // namespace

StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(const config::ServerTlsConfig& tls,
                                                                         const std::string& field) {
  if (tls.cert_file().empty()) {
    if (!tls.key_file().empty() || !tls.client_ca_file().empty()) {
      return InvalidArgument(field + ".cert_file: required when key_file or client_ca_file is set");
    }
    return grpc::InsecureServerCredentials();
  }
  if (tls.key_file().empty()) return InvalidArgument(field + ".key_file: required with cert_file");
  grpc::SslServerCredentialsOptions options;
  grpc::SslServerCredentialsOptions::PemKeyCertPair pair;
  ASSIGN_OR_RETURN(pair.cert_chain, ReadFile(tls.cert_file(), field + ".cert_file"));
  ASSIGN_OR_RETURN(pair.private_key, ReadFile(tls.key_file(), field + ".key_file"));
  options.pem_key_cert_pairs.push_back(pair);
  if (!tls.client_ca_file().empty()) {
    ASSIGN_OR_RETURN(options.pem_root_certs, ReadFile(tls.client_ca_file(), field + ".client_ca_file"));
    options.client_certificate_request = GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY;
  }
  return grpc::SslServerCredentials(options);
}

StatusOr<std::shared_ptr<grpc::Channel>> MakeChannel(const std::string& address, const config::ClientTlsConfig& tls,
                                                     grpc::ChannelArguments args, const std::string& field) {
  if (!tls.enabled()) {
    if (!tls.ca_file().empty() || !tls.cert_file().empty() || !tls.key_file().empty()) {
      return InvalidArgument(field + ".enabled: files are set but TLS is off; set enabled: true");
    }
    return grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args);
  }
  if (tls.cert_file().empty() != tls.key_file().empty()) {
    return InvalidArgument(field + ": cert_file and key_file go together (mutual TLS)");
  }
  grpc::SslCredentialsOptions options;
  if (!tls.ca_file().empty()) {
    ASSIGN_OR_RETURN(options.pem_root_certs, ReadFile(tls.ca_file(), field + ".ca_file"));
  }
  if (!tls.cert_file().empty()) {
    ASSIGN_OR_RETURN(options.pem_cert_chain, ReadFile(tls.cert_file(), field + ".cert_file"));
    ASSIGN_OR_RETURN(options.pem_private_key, ReadFile(tls.key_file(), field + ".key_file"));
  }
  if (!tls.server_name().empty()) args.SetSslTargetNameOverride(tls.server_name());
  return grpc::CreateCustomChannel(address, grpc::SslCredentials(options), args);
}

StatusOr<std::string> LoadToken(const config::AuthConfig& auth, const std::string& field) {
  if (!auth.token_file().empty() && !auth.token_env().empty()) {
    return InvalidArgument(field + ": set token_file or token_env, not both");
  }
  std::string token;
  if (!auth.token_file().empty()) {
    ASSIGN_OR_RETURN(std::string raw, ReadFile(auth.token_file(), field + ".token_file"));
    token = Trim(raw);
    if (token.empty()) return InvalidArgument(field + ".token_file: '" + auth.token_file() + "' holds only whitespace");
  } else if (!auth.token_env().empty()) {
    const char* value = std::getenv(auth.token_env().c_str());
    if (!value || Trim(value).empty()) {
      return InvalidArgument(field + ".token_env: environment variable " + auth.token_env() + " is unset or empty");
    }
    token = Trim(value);
  }
  // Metadata values must be printable ASCII: reject anything else rather than fail later.
  for (char c : token) {
    if (c < 0x21 || c > 0x7e) return InvalidArgument(field + ": the token has a character that is not printable ASCII");
  }
  return token;
}

std::string SecuritySummary(bool tls, bool mutual_tls, bool token) {
  std::string s = mutual_tls ? "mutual TLS" : tls ? "TLS" : "plaintext";
  s += token ? ", bearer token required" : ", no token";
  if (token && !tls) s += " (WARNING: the token travels unencrypted; enable TLS outside a trusted network)";
  return s;
}

bool ConstantTimeEquals(const std::string& a, const std::string& b) {
  if (a.size() != b.size()) return false;
  volatile unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i) diff = diff | static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

TokenChecker::TokenChecker(const std::string& token) : expected_(token.empty() ? "" : "Bearer " + token) {}

grpc::Status TokenChecker::Check(const grpc::ServerContext& context) const {
  if (expected_.empty()) return grpc::Status::OK;
  const auto& metadata = context.client_metadata();
  auto it = metadata.find("authorization");
  if (it == metadata.end()) {
    return {grpc::StatusCode::UNAUTHENTICATED, "authorization: missing bearer token"};
  }
  if (!ConstantTimeEquals(std::string(it->second.data(), it->second.size()), expected_)) {
    return {grpc::StatusCode::UNAUTHENTICATED, "authorization: invalid bearer token"};
  }
  return grpc::Status::OK;
}

void AttachToken(grpc::ClientContext* context, const std::string& token) {
  if (!token.empty()) context->AddMetadata("authorization", "Bearer " + token);
}

}  // namespace maskgrpo::rpc
