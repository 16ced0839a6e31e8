// The gRPC adapter of the learner: validate -> LearnerCore -> map status -> metrics.
// Thread-safe (sync gRPC server threads); all state lives in LearnerCore.
#pragma once

#include "learner/learner_core.h"
#include "learner/learner_metrics.h"
#include "learner/weights_relay_planner.h"
#include "maskgrpo/learner.grpc.pb.h"
#include "rpc/security.h"

namespace maskgrpo::learner {

class LearnerService final : public v1::Learner::Service {
 public:
  // `core` must outlive the service; `metrics` may be null; a non-empty `auth_token` is
  // required on every call.
  LearnerService(LearnerCore* core, LearnerMetrics* metrics, const std::string& auth_token = "")
      : core_(core), metrics_(metrics), auth_(auth_token), planner_(PlannerOptions(core->options())) {}

  grpc::Status Lease(grpc::ServerContext* context, const v1::LeaseRequest* request, v1::LeaseReply* reply) override;
  grpc::Status Submit(grpc::ServerContext* context, const v1::SubmitRequest* request, v1::SubmitReply* reply) override;
  grpc::Status FetchWeights(grpc::ServerContext* context, const v1::FetchWeightsRequest* request,
                            grpc::ServerWriter<v1::WeightsChunk>* writer) override;
  grpc::Status GetStatus(grpc::ServerContext* context, const v1::StatusRequest* request,
                         v1::LearnerStatus* reply) override;
  grpc::Status WeightsSource(grpc::ServerContext* context, const v1::WeightsSourceRequest* request,
                             v1::WeightsSourceReply* reply) override;
  grpc::Status WeightsHeld(grpc::ServerContext* context, const v1::WeightsHeldRequest* request,
                           v1::WeightsHeldReply* reply) override;
  RelayPlannerCounts relay_counts() const { return planner_.Counts(); }

 private:
  LearnerCore* core_;
  LearnerMetrics* metrics_;
  rpc::TokenChecker auth_;
  WeightsRelayPlanner planner_;
  static RelayPlannerOptions PlannerOptions(const LearnerCoreOptions& o);
};

// Decodes a submission, naming the first bad field (lengths and shapes; value ranges are
// checked by the core).
StatusOr<Submission> DecodeSubmission(const v1::SubmitRequest& request, int64_t image_tokens);

}  // namespace maskgrpo::learner
