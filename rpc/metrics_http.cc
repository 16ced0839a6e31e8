#include "rpc/metrics_http.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

namespace maskgrpo::rpc {

StatusOr<std::pair<std::string, int>> SplitHostPort(const std::string& address, const std::string& field) {
  auto colon = address.rfind(':');
  if (colon == std::string::npos || colon + 1 == address.size()) {
    return InvalidArgument(field + ": '" + address + "' is not host:port");
  }
  std::string host = address.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  const std::string port_text = address.substr(colon + 1);
  int port = 0;
  for (char c : port_text) {
    if (c < '0' || c > '9' || port > 65535) return InvalidArgument(field + ": bad port in '" + address + "'");
    port = port * 10 + (c - '0');
  }
  if (port > 65535) return InvalidArgument(field + ": bad port in '" + address + "'");
  return std::make_pair(host.empty() ? std::string("0.0.0.0") : host, port);
}

StatusOr<std::unique_ptr<MetricsHttpServer>> MetricsHttpServer::Start(const std::string& listen,
                                                                      std::shared_ptr<prometheus::Registry> registry) {
  auto hp = SplitHostPort(listen, "metrics_listen");
  if (!hp.ok()) return hp.status();
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* res = nullptr;
  const std::string port_text = std::to_string(hp->second);
  if (int rc = getaddrinfo(hp->first.c_str(), port_text.c_str(), &hints, &res); rc != 0) {
    return InvalidArgument("metrics_listen: cannot resolve '" + hp->first + "': " + gai_strerror(rc));
  }
  int fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  if (fd >= 0) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  const bool bound = fd >= 0 && bind(fd, res->ai_addr, res->ai_addrlen) == 0 && ::listen(fd, 16) == 0;
  freeaddrinfo(res);
  if (!bound) {
    std::string why = std::strerror(errno);
    if (fd >= 0) close(fd);
    return Status(StatusCode::kUnavailable, "metrics_listen: cannot listen on " + listen + ": " + why);
  }
  sockaddr_storage addr{};
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  std::unique_ptr<MetricsHttpServer> server(new MetricsHttpServer());
  server->registry_ = std::move(registry);
  server->fd_ = fd;
  server->port_ = ntohs(addr.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port
                                                   : reinterpret_cast<sockaddr_in*>(&addr)->sin_port);
  server->thread_ = std::thread([s = server.get()] { s->Loop(); });
  return server;
}

MetricsHttpServer::~MetricsHttpServer() { Stop(); }

void MetricsHttpServer::Stop() {
  if (stop_.exchange(true)) return;
  if (thread_.joinable()) thread_.join();
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
}

void MetricsHttpServer::Loop() {
  while (!stop_.load()) {
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, 100) <= 0) continue;  // wake up regularly to notice Stop()
    int client = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (client < 0) continue;
    Serve(client);
    close(client);
  }
}

void MetricsHttpServer::Serve(int client) {
  // One client at a time: each gets at most kClientTimeoutMs to send its request head
  // (bounded) and as long to take the reply, so a client that trickles its request a byte at
  // a time, or never reads, cannot keep Prometheus's scrapes out (a timeout per recv would
  // let it hold the server for hours). A scraper sends its head at once.
  constexpr int kClientTimeoutMs = 2000;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kClientTimeoutMs);
  std::string head;
  char buf[1024];
  while (head.find("\r\n\r\n") == std::string::npos && head.size() < 8192) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return;
    pollfd p{client, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(left.count())) <= 0) return;
    ssize_t n = recv(client, buf, sizeof(buf), 0);
    if (n <= 0) return;
    head.append(buf, static_cast<size_t>(n));
  }
  std::string status = "200 OK", type = "text/plain; version=0.0.4; charset=utf-8", body;
  const bool get = head.rfind("GET ", 0) == 0;
  const auto path_end = head.find(' ', 4);
  const std::string path = get && path_end != std::string::npos ? head.substr(4, path_end - 4) : "";
  if (!get) {
    status = "405 Method Not Allowed";
    type = "text/plain";
    body = "only GET is served\n";
  } else if (path == "/metrics" || path.rfind("/metrics?", 0) == 0) {
    body = prometheus::TextSerializer().Serialize(registry_->Collect());
  } else if (path == "/healthz") {
    type = "text/plain";
    body = "ok\n";
  } else {
    status = "404 Not Found";
    type = "text/plain";
    body = "see /metrics\n";
  }
  std::string reply = "HTTP/1.1 " + status + "\r\nContent-Type: " + type + "\r\nContent-Length: " +
                      std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
  size_t sent = 0;
  const auto send_deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kClientTimeoutMs);
  while (sent < reply.size()) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(send_deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return;
    pollfd p{client, POLLOUT, 0};
    if (poll(&p, 1, static_cast<int>(left.count())) <= 0) return;
    ssize_t n = send(client, reply.data() + sent, reply.size() - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) continue;
    if (n <= 0) return;
    sent += static_cast<size_t>(n);
  }
}

}  // namespace maskgrpo::rpc
