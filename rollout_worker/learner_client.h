// The worker's side of the learner service: one call per method, each with a deadline;
// FetchWeights assembles and checks the stream. Thread-safe (gRPC stubs are).
#pragma once

#include <grpcpp/channel.h>

#include <chrono>
#include <functional>
#include <mutex>
#include <map>
#include <memory>
#include <set>
#include <string>

#include "core/status.h"
#include "maskgrpo/learner.grpc.pb.h"
#include "maskgrpo/service_config.pb.h"

namespace at {
class Tensor;
}

namespace maskgrpo::rpc {
struct WeightsSnapshot;
}

namespace maskgrpo::worker {

struct FetchedWeights {
  int64_t version = 0;
  // The stream as it arrived (tensors, the learner's checksums and frozen flags): what this
  // worker serves as a weights relay once the version is applied. `tensors` share its bytes.
  std::shared_ptr<const rpc::WeightsSnapshot> received;
  std::string model_config_json;
  std::map<std::string, at::Tensor> tensors;  // CPU
  v1::WeightProbe probe;                      // empty from a learner that sends none
  uint64_t frozen_fingerprint = 0;            // of the frozen parameters (0: none frozen)
  bool trained_only = false;                  // `tensors` holds the trained parameters only
  int64_t bytes = 0;
  double seconds = 0;
};

class LearnerClient {
 public:
  // `token`: bearer token sent on every call ("" = none).
  LearnerClient(std::shared_ptr<grpc::Channel> channel, std::chrono::milliseconds rpc_deadline,
                std::chrono::milliseconds weights_deadline, std::string token = "");
  ~LearnerClient();
  // `wait_ms`: how long the learner may hold the call when it has nothing to hand out (a long
  // poll; 0 = answer at once).
  // `held`: the ids of the leases this worker still holds, reported so that the learner
  // releases its other leases at once (LeaseRequest.held_lease_ids); null: not reported.
  // After CancelLeases it fails at once with kUnavailable ("stopping").
  // `instance`: this worker process's token (LeaseRequest.worker_instance); empty: none.
  StatusOr<v1::LeaseReply> Lease(const std::string& worker_id, int max_leases, int wait_ms = 0,
                                 const std::vector<std::string>* held = nullptr, const std::string& instance = {});
  // Ends the Lease calls in flight (a stopping worker need not wait out a long poll) and makes
  // every later Lease fail. Other calls are not affected.
  void CancelLeases();
  StatusOr<v1::SubmitReply> Submit(const v1::SubmitRequest& request);
  // `held_frozen_fingerprint`: that of the frozen parameters this worker holds (0: none);
  // when the learner's matches, the stream holds the trained parameters only.
  StatusOr<FetchedWeights> FetchWeights(int64_t version, uint64_t held_frozen_fingerprint = 0);
  // The same stream from a worker that serves it (WeightsRelay at `address`, with this
  // client's token; TLS as set by SetRelayTls, plaintext by default). Channels are kept per
  // address.
  StatusOr<FetchedWeights> FetchWeightsFromRelay(const std::string& address, int64_t version,
                                                 uint64_t held_frozen_fingerprint = 0);
  // TLS for the relay channels (relay_client_tls); checked here (files read), so that a bad
  // config fails at start rather than as a failed relay. Call before any fetch.
  Status SetRelayTls(const config::ClientTlsConfig& tls);
  // Weight fan-out: where to fetch `version` from (Learner.WeightsSource), and that it is
  // held (Learner.WeightsHeld).
  StatusOr<v1::WeightsSourceReply> WeightsSource(const std::string& worker_id, int64_t version,
                                                 const std::string& failed_source);
  Status WeightsHeld(const std::string& worker_id, int64_t version, const std::string& relay_address);
  StatusOr<v1::LearnerStatus> GetStatus();
  // A retry's pause on the learner's channel (worker::PauseBeforeRetry, backoff.h): a
  // restarted learner is used as soon as the channel connects, not after the whole backoff.
  void PauseBeforeRetry(std::chrono::milliseconds delay);

 private:
  using OpenStream = std::function<std::unique_ptr<grpc::ClientReader<v1::WeightsChunk>>(
      grpc::ClientContext*, const v1::FetchWeightsRequest&)>;
  StatusOr<FetchedWeights> ReadWeights(const OpenStream& open, int64_t version, uint64_t held_frozen_fingerprint);
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::Learner::Stub> stub_;
  std::mutex lease_mu_;
  std::set<grpc::ClientContext*> leases_in_flight_;  // guarded by lease_mu_
  bool leases_cancelled_ = false;                    // guarded by lease_mu_
  std::mutex relay_mu_;
  std::map<std::string, std::unique_ptr<v1::WeightsRelay::Stub>> relay_stubs_;  // by address
  config::ClientTlsConfig relay_tls_;  // enabled = false: plaintext
  std::chrono::milliseconds rpc_deadline_, weights_deadline_;
  std::string token_;
  void Prepare(grpc::ClientContext* context, std::chrono::milliseconds deadline) const;
};

}  // namespace maskgrpo::worker
