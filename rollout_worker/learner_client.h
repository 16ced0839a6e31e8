// The worker's side of the learner service: one call per method, each with a deadline;
// FetchWeights assembles and checks the stream. Thread-safe (gRPC stubs are).
#pragma once

#include <grpcpp/channel.h>

#include <chrono>
#include <map>
#include <memory>
#include <string>

#include "core/status.h"
#include "maskgrpo/learner.grpc.pb.h"

namespace at {
class Tensor;
}

namespace maskgrpo::worker {

struct FetchedWeights {
  int64_t version = 0;
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
  StatusOr<v1::LeaseReply> Lease(const std::string& worker_id, int max_leases);
  StatusOr<v1::SubmitReply> Submit(const v1::SubmitRequest& request);
  // `held_frozen_fingerprint`: that of the frozen parameters this worker holds (0: none);
  // when the learner's matches, the stream holds the trained parameters only.
  StatusOr<FetchedWeights> FetchWeights(int64_t version, uint64_t held_frozen_fingerprint = 0);
  StatusOr<v1::LearnerStatus> GetStatus();

 private:
  std::unique_ptr<v1::Learner::Stub> stub_;
  std::chrono::milliseconds rpc_deadline_, weights_deadline_;
  std::string token_;
  void Prepare(grpc::ClientContext* context, std::chrono::milliseconds deadline) const;
};

}  // namespace maskgrpo::worker
