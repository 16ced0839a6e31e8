#include "rollout_worker/weights_relay.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <thread>

namespace maskgrpo::worker {

Status WeightsRelayService::Hold(std::shared_ptr<const rpc::WeightsSnapshot> received, bool trained_only) {
  sync::MutexLock lock(&mu_);
  if (!received) {
    held_.reset();
    return InvalidArgument("weights relay: nothing to hold");
  }
  if (!trained_only) {
    held_ = std::move(received);
    return Status::Ok();
  }
  if (!held_) return FailedPrecondition("weights relay: a trained-only stream and no whole snapshot to complete it");
  auto whole = rpc::CompleteWithFrozen(*received, *held_);
  if (!whole.ok()) {
    held_.reset();  // serving the older version would send workers to a version they did not ask for
    return whole.status();
  }
  held_ = std::move(*whole);
  return Status::Ok();
}

int64_t WeightsRelayService::held_version() const {
  sync::MutexLock lock(&mu_);
  return held_ ? held_->version : -1;
}

grpc::Status WeightsRelayService::FetchWeights(grpc::ServerContext* context, const v1::FetchWeightsRequest* request,
                                               grpc::ServerWriter<v1::WeightsChunk>* writer) {
  if (grpc::Status denied = auth_.Check(*context); !denied.ok()) return denied;
  std::shared_ptr<const rpc::WeightsSnapshot> snapshot;
  {
    sync::MutexLock lock(&mu_);
    snapshot = held_;
  }
  if (!snapshot || snapshot->version != request->version()) {
    return {grpc::StatusCode::FAILED_PRECONDITION,
            "version: this relay does not hold version " + std::to_string(request->version()) +
                (snapshot ? " (it holds " + std::to_string(snapshot->version) + ")" : " (it holds none)")};
  }
  int64_t sent = 0;
  if (!rpc::WriteWeightsStream(*snapshot, request->frozen_fingerprint(), context, writer, &sent)) {
    return {grpc::StatusCode::CANCELLED, "weights stream interrupted"};
  }
  bytes_served_ += sent;
  streams_served_++;
  return grpc::Status::OK;
}

WeightsFetcher::WeightsFetcher(LearnerClient* learner, std::string worker_id, WeightsRelayService* relay,
                               std::string relay_address, std::chrono::milliseconds wait_max,
                               std::function<void(const std::string&)> log, bool from_relays)
    : learner_(learner),
      worker_id_(std::move(worker_id)),
      relay_(relay),
      relay_address_(std::move(relay_address)),
      wait_max_(wait_max),
      log_(std::move(log)),
      from_relays_(from_relays) {}

StatusOr<FetchedWeights> WeightsFetcher::Fetch(int64_t version, uint64_t held, std::string* relay_used,
                                               const std::function<bool()>& stopping) {
  relay_used->clear();
  if (!from_relays_) return learner_->FetchWeights(version, held);
  const auto give_up_waiting = std::chrono::steady_clock::now() + wait_max_;
  std::string failed = std::move(bad_relay_);
  bad_relay_.clear();
  while (!stopping()) {
    auto source = learner_->WeightsSource(worker_id_, version, failed);
    if (!source.ok()) {
      // A learner without fan-out, or unreachable (then the fetch fails and says so).
      if (!warned_) {
        warned_ = true;
        log_("weight fan-out unavailable (" + source.status().ToString() + "): fetching from the learner");
      }
      return learner_->FetchWeights(version, held);
    }
    const bool wait = source->retry_after_ms() > 0;
    if (wait && std::chrono::steady_clock::now() < give_up_waiting) {
      std::this_thread::sleep_for(std::chrono::milliseconds(std::min<int64_t>(source->retry_after_ms(), 1000)));
      continue;
    }
    if (wait || source->source().empty()) return learner_->FetchWeights(version, held);
    auto w = learner_->FetchWeightsFromRelay(source->source(), version, held);
    if (w.ok()) {
      *relay_used = source->source();
      return w;
    }
    log_("weights of version " + std::to_string(version) + " from relay " + source->source() + " failed (" +
         w.status().ToString() + "); asking the learner");
    failed = source->source();
  }
  return Status(StatusCode::kUnavailable, "stopping");
}

void WeightsFetcher::Held(const FetchedWeights& w) {
  std::string served;
  if (relay_) {
    Status held = relay_->Hold(w.received, w.trained_only);
    if (held.ok()) {
      served = relay_address_;
    } else {
      log_("weights relay: not serving version " + std::to_string(w.version) + ": " + held.message());
    }
  }
  Status told = learner_->WeightsHeld(worker_id_, w.version, served);
  if (!told.ok() && !warned_) {
    warned_ = true;
    log_("could not tell the learner that version " + std::to_string(w.version) + " is held: " + told.ToString());
  }
}

StatusOr<std::string> HostIpv4Address(const std::string& host) {
  addrinfo hints{};
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  const int rc = ::getaddrinfo(host.c_str(), nullptr, &hints, &found);
  if (rc != 0) return NotFound("'" + host + "' does not resolve: " + ::gai_strerror(rc));
  std::string address;
  for (addrinfo* a = found; a != nullptr && address.empty(); a = a->ai_next) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(a->ai_addr);
    // 127.0.0.0/8: Debian maps its own hostname to 127.0.1.1, which no other machine reaches.
    if ((ntohl(in->sin_addr.s_addr) >> 24) == 127) continue;
    char text[INET_ADDRSTRLEN] = {};
    if (::inet_ntop(AF_INET, &in->sin_addr, text, sizeof(text)) != nullptr) address = text;
  }
  ::freeaddrinfo(found);
  if (address.empty()) return NotFound("'" + host + "' resolves to loopback addresses only");
  return address;
}

StatusOr<std::string> RelayAdvertiseAddress(const std::string& listen, int port, const std::string& advertise) {
  if (advertise == kAdvertiseAuto) {
    char name[256] = {};
    if (::gethostname(name, sizeof(name) - 1) != 0) return Internal("relay_advertise auto: gethostname failed");
    auto ip = HostIpv4Address(name);
    if (!ip.ok()) {
      return FailedPrecondition("relay_advertise auto: this host's name " + ip.status().message() +
                                "; set relay_advertise to the address other workers reach");
    }
    return *ip + ":" + std::to_string(port);
  }
  if (!advertise.empty()) return advertise;
  const auto colon = listen.rfind(':');
  if (colon == std::string::npos) return InvalidArgument("relay_listen '" + listen + "' is not HOST:PORT");
  const std::string host = listen.substr(0, colon);
  if (host.empty() || host == "0.0.0.0" || host == "[::]" || host == "::") {
    return InvalidArgument("relay_listen '" + listen +
                           "' listens on every interface: set relay_advertise to the address other workers reach"
                           " (or \"auto\": this host's name resolved)");
  }
  return host + ":" + std::to_string(port);
}

}  // namespace maskgrpo::worker
