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

#include <atomic>
#include <chrono>
#include <thread>

namespace maskgrpo::rpc {
namespace {

// A socket connected to 127.0.0.1:`port`.
int Connect(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
  EXPECT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  return fd;
}

std::string Get(int port, const std::string& request) {
  const int fd = Connect(port);
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

// The server serves one client at a time. A client that trickles its request a byte at a
// time (or sends nothing) is cut off after 2 s in all, so a scrape behind it still gets through.
TEST(MetricsHttpServer, AClientThatTricklesItsRequestCannotKeepScrapesOut) {
  auto registry = std::make_shared<prometheus::Registry>();
  auto server = MetricsHttpServer::Start("127.0.0.1:0", registry);
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  const int port = (*server)->port();
  const auto connected = std::chrono::steady_clock::now();
  const int slow = Connect(port);
  std::atomic<bool> done{false};
  std::thread trickle([&] {
    const std::string request = "GET /metrics HTTP/1.1\r\nHost: a-very-slow-client.example\r\nX-Padding: ";
    for (size_t i = 0; !done.load() && i < 60; ++i) {  // 6 s at most, so an old server ends too
      if (send(slow, &request[i % request.size()], 1, MSG_NOSIGNAL) <= 0) break;  // cut off
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // the server is reading `slow`
  const auto start = std::chrono::steady_clock::now();
  const std::string reply = Get(port, "GET /healthz HTTP/1.1\r\n\r\n");
  const double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const double since_slow = std::chrono::duration<double>(std::chrono::steady_clock::now() - connected).count();
  done = true;
  trickle.join();
  close(slow);
  EXPECT_EQ(reply.rfind("HTTP/1.1 200 OK", 0), 0u) << reply;
  // At most the slow client's 2 s, less the 0.3 s or more it already had; with a timeout per
  // read it would hold the server as long as it kept sending (here: 6 s, then 2 s of silence).
  EXPECT_LT(waited, 3.0);
  // The scrape came only after the slow client's 2 s: the test exercised the limit.
  EXPECT_GE(since_slow, 1.9);
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
