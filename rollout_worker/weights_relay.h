// Weight fan-out, the worker's side: the WeightsRelay service that serves the version this
// worker holds to other workers (the learner's weights_fanout sends them here), exactly as
// it arrived from the learner (its checksums, probe and frozen fingerprint), so a receiver
// checks a relayed stream as it would the learner's. In-flight streams keep the snapshot
// they started with when the worker moves on to a newer version.
#pragma once

#include <atomic>
#include <memory>
#include <string>

#include "maskgrpo/learner.grpc.pb.h"
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

// "host:port" for other workers to reach a relay that listens on `listen` and bound `port`:
// `advertise` when set, else listen's host with the bound port (an error for a wildcard host).
StatusOr<std::string> RelayAdvertiseAddress(const std::string& listen, int port, const std::string& advertise);

}  // namespace maskgrpo::worker
