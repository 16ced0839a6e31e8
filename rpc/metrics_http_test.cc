// Runs in a test binary that links LibTorch and OpenBLAS, where prometheus-cpp's own
// Exposer fails to start (environment.md): the endpoint must work here.
#include "rpc/metrics_http.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <prometheus/counter.h>
#include <prometheus/registry.h>
#include <sys/socket.h>
#include "core/torch_api.h"
#include <unistd.h>

namespace maskgrpo::rpc {
namespace {

std::string Get(int port, const std::string& request) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
  EXPECT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  send(fd, request.data(), request.size(), 0);
  std::string reply;
  char buf[4096];
  for (ssize_t n; (n = recv(fd, buf, sizeof(buf), 0)) > 0;) reply.append(buf, static_cast<size_t>(n));
  close(fd);
  return reply;
}

TEST(MetricsHttpServer, ServesTheRegistryInAProcessThatLinksTorch) {
  // Touch torch so that its thread pools and OpenBLAS are really loaded.
  EXPECT_EQ(torch::ones({4, 4}).matmul(torch::ones({4, 4})).sum().item<float>(), 64.0f);
  auto registry = std::make_shared<prometheus::Registry>();
  auto& counter = prometheus::BuildCounter().Name("maskgrpo_test_things_total").Help("Things").Register(*registry).Add({});
  counter.Increment(3);
  auto server = MetricsHttpServer::Start("127.0.0.1:0", registry);
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  const int port = (*server)->port();
  ASSERT_GT(port, 0);
  auto reply = Get(port, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(reply.rfind("HTTP/1.1 200 OK", 0), 0u) << reply;
  EXPECT_NE(reply.find("maskgrpo_test_things_total 3"), std::string::npos) << reply;
  EXPECT_EQ(Get(port, "GET /nope HTTP/1.1\r\n\r\n").rfind("HTTP/1.1 404", 0), 0u);
  EXPECT_EQ(Get(port, "POST /metrics HTTP/1.1\r\n\r\n").rfind("HTTP/1.1 405", 0), 0u);
  (*server)->Stop();
}

TEST(MetricsHttpServer, BadAddressesAreErrors) {
  auto registry = std::make_shared<prometheus::Registry>();
  EXPECT_FALSE(MetricsHttpServer::Start("127.0.0.1", registry).ok());
  EXPECT_FALSE(MetricsHttpServer::Start("127.0.0.1:99999", registry).ok());
  EXPECT_FALSE(MetricsHttpServer::Start("no.such.host.invalid:0", registry).ok());
}

}  // namespace
}  // namespace maskgrpo::rpc
