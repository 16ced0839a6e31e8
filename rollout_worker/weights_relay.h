// Weight fan-out, the worker's side: the WeightsRelay service that serves the version this
// worker holds to other workers (the learner's weights_fanout sends them here), exactly as
// it arrived from the learner (its checksums, probe and frozen fingerprint), so a receiver
// checks a relayed stream as it would the learner's. In-flight streams keep the snapshot
// they started with when the worker moves on to a newer version.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "maskgrpo/learner.grpc.pb.h"
#include "rollout_worker/learner_client.h"
#include "rpc/security.h"
#include "rpc/sync.h"
#include "rpc/weights_stream.h"

namespace maskgrpo::worker {

class WeightsRelayService final : public v1::WeightsRelay::Service {
 public:
  explicit WeightsRelayService(const std::string& token) : auth_(token) {}

  // The version this worker now holds, as received (FetchedWeights::received). A stream of
  // trained parameters only is completed with the frozen ones of the snapshot served so far;
  // when that is impossible the relay serves nothing until the next whole stream. Returns
  // whether the version is now served.
  Status Hold(std::shared_ptr<const rpc::WeightsSnapshot> received, bool trained_only);
  int64_t held_version() const;  // -1 when nothing is served

  grpc::Status FetchWeights(grpc::ServerContext* context, const v1::FetchWeightsRequest* request,
                            grpc::ServerWriter<v1::WeightsChunk>* writer) override;

  int64_t bytes_served() const { return bytes_served_.load(); }
  int64_t streams_served() const { return streams_served_.load(); }

 private:
  rpc::TokenChecker auth_;
  mutable sync::Mutex mu_;
  std::shared_ptr<const rpc::WeightsSnapshot> held_ ABSL_GUARDED_BY(mu_);
  std::atomic<int64_t> bytes_served_{0}, streams_served_{0};
};

// Brings a worker's weights to a version by way of the learner's plan: asks the learner
// where to fetch from (Learner.WeightsSource), fetches from that relay or the learner, falls
// back to the learner when a relay fails, and once the version is applied serves it with the
// worker's relay (if any) and tells the learner (Learner.WeightsHeld). Used by one thread.
class WeightsFetcher {
 public:
  // `learner` must outlive the fetcher; `relay` may be null (this worker serves nothing).
  // `from_relays` false: every fetch goes to the learner (no WeightsSource call).
  WeightsFetcher(LearnerClient* learner, std::string worker_id, WeightsRelayService* relay, std::string relay_address,
                 std::chrono::milliseconds wait_max, std::function<void(const std::string&)> log,
                 bool from_relays = true);
  // `*relay_used`: the relay it came from ("" = the learner). Gives up waiting for a free
  // source after wait_max (then fetches from the learner); returns UNAVAILABLE if `stopping`.
  StatusOr<FetchedWeights> Fetch(int64_t version, uint64_t held_frozen_fingerprint, std::string* relay_used,
                                 const std::function<bool()>& stopping);
  // Weights from `relay` did not apply or failed the probe: reported with the next Fetch.
  void ReportBadRelay(const std::string& relay) { bad_relay_ = relay; }
  // The version is applied and its probe passed.
  void Held(const FetchedWeights& weights);

 private:
  LearnerClient* learner_;
  std::string worker_id_;
  WeightsRelayService* relay_;
  std::string relay_address_;
  std::chrono::milliseconds wait_max_;
  std::function<void(const std::string&)> log_;
  bool from_relays_;
  std::string bad_relay_;
  bool warned_ = false;
};

// relay_advertise "auto": the IPv4 address this host's name resolves to, with the bound port.
// In a Kubernetes pod or a Compose container the name is in /etc/hosts with the address
// the others reach (the pod IP), so one manifest serves every replica.
inline constexpr char kAdvertiseAuto[] = "auto";

// "host:port" for other workers to reach a relay that listens on `listen` and bound `port`:
// `advertise` when set ("auto": see above), else listen's host with the bound port (an error
// for a wildcard host).
StatusOr<std::string> RelayAdvertiseAddress(const std::string& listen, int port, const std::string& advertise);
// The first IPv4 address `host` resolves to outside 127.0.0.0/8 (a numeric address is itself);
// NotFound when it does not resolve or resolves to loopback only.
StatusOr<std::string> HostIpv4Address(const std::string& host);

}  // namespace maskgrpo::worker
