#include "rpc/security.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

namespace maskgrpo::rpc {
namespace {

namespace fs = std::filesystem;

std::string TempFile(const std::string& name, const std::string& text) {
  const fs::path p = fs::temp_directory_path() / ("maskgrpo_security_" + std::to_string(::getpid()) + "_" + name);
  std::ofstream(p) << text;
  return p.string();
}

TEST(ConstantTimeEquals, ComparesWholeStrings) {
  EXPECT_TRUE(ConstantTimeEquals("Bearer abc", "Bearer abc"));
  EXPECT_FALSE(ConstantTimeEquals("Bearer abc", "Bearer abd"));
  EXPECT_FALSE(ConstantTimeEquals("Bearer abc", "Bearer ab"));
  EXPECT_FALSE(ConstantTimeEquals("", "x"));
  EXPECT_TRUE(ConstantTimeEquals("", ""));
}

TEST(LoadToken, FromFileTrimmedOrFromEnvironment) {
  config::AuthConfig none;
  EXPECT_EQ(*LoadToken(none, "auth"), "");

  config::AuthConfig file;
  file.set_token_file(TempFile("token", "  tok-123\n"));
  EXPECT_EQ(*LoadToken(file, "auth"), "tok-123");

  ::setenv("MASKGRPO_SECURITY_TEST_TOKEN", "env-tok", 1);
  config::AuthConfig env;
  env.set_token_env("MASKGRPO_SECURITY_TEST_TOKEN");
  EXPECT_EQ(*LoadToken(env, "auth"), "env-tok");
}

TEST(LoadToken, BadSourcesNameTheFieldAndNeverTheToken) {
  config::AuthConfig both;
  both.set_token_file("/x");
  both.set_token_env("Y");
  EXPECT_NE(LoadToken(both, "learner_auth").status().message().find("learner_auth: set token_file or token_env"),
            std::string::npos);

  config::AuthConfig missing;
  missing.set_token_file("/nonexistent/maskgrpo/token");
  EXPECT_NE(LoadToken(missing, "auth").status().message().find("auth.token_file: cannot read"), std::string::npos);

  config::AuthConfig blank;
  blank.set_token_file(TempFile("blank", " \n\t\n"));
  EXPECT_NE(LoadToken(blank, "auth").status().message().find("only whitespace"), std::string::npos);

  ::unsetenv("MASKGRPO_SECURITY_TEST_UNSET");
  config::AuthConfig unset;
  unset.set_token_env("MASKGRPO_SECURITY_TEST_UNSET");
  EXPECT_NE(LoadToken(unset, "auth").status().message().find("MASKGRPO_SECURITY_TEST_UNSET is unset"),
            std::string::npos);

  config::AuthConfig binary;
  binary.set_token_file(TempFile("binary", "abc\x01secret"));
  auto bad = LoadToken(binary, "auth");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message().find("secret"), std::string::npos);
}

TEST(MakeCredentials, IncompleteTlsConfigsAreErrorsNamingTheField) {
  config::ServerTlsConfig key_only;
  key_only.set_key_file("/k");
  EXPECT_NE(MakeServerCredentials(key_only, "tls").status().message().find("tls.cert_file: required"),
            std::string::npos);
  config::ServerTlsConfig cert_only;
  cert_only.set_cert_file(TempFile("cert", "pem"));
  EXPECT_NE(MakeServerCredentials(cert_only, "tls").status().message().find("tls.key_file: required"),
            std::string::npos);
  EXPECT_TRUE(MakeServerCredentials(config::ServerTlsConfig(), "tls").ok());  // plaintext

  config::ClientTlsConfig files_without_enabled;
  files_without_enabled.set_ca_file("/ca.pem");
  EXPECT_NE(MakeChannel("127.0.0.1:1", files_without_enabled, grpc::ChannelArguments(), "learner_tls")
                .status()
                .message()
                .find("learner_tls.enabled"),
            std::string::npos);
  config::ClientTlsConfig half_pair;
  half_pair.set_enabled(true);
  half_pair.set_cert_file("/c.pem");
  EXPECT_FALSE(MakeChannel("127.0.0.1:1", half_pair, grpc::ChannelArguments(), "learner_tls").ok());
  config::ClientTlsConfig missing_ca;
  missing_ca.set_enabled(true);
  missing_ca.set_ca_file("/nonexistent/ca.pem");
  EXPECT_NE(MakeChannel("127.0.0.1:1", missing_ca, grpc::ChannelArguments(), "reward_tls").status().message().find(
                "reward_tls.ca_file: cannot read"),
            std::string::npos);
}

}  // namespace
}  // namespace maskgrpo::rpc
