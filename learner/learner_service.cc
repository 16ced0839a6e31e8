#include "learner/learner_service.h"

#include <chrono>
#include <cmath>
#include <thread>

#include "rpc/convert.h"
#include "rpc/status_grpc.h"
#include "rpc/log.h"
#include "learner/ledger.h"

namespace maskgrpo::learner {

StatusOr<Submission> DecodeSubmission(const v1::SubmitRequest& request, int64_t image_tokens) {
  Submission s;
  s.lease_id = request.lease_id();
  s.worker_id = request.worker_id();
  s.policy_version = request.policy_version();
  if (s.lease_id.empty()) return InvalidArgument("lease_id is empty");
  if (s.worker_id.size() > kMaxWorkerIdChars) {
    return InvalidArgument("worker_id is longer than " + std::to_string(kMaxWorkerIdChars) + " characters");
  }
  if (!request.has_group()) return InvalidArgument("group is missing");
  auto traj = rpc::FromProto(request.group(), image_tokens, "group");
  if (!traj.ok()) return traj.status();
  s.trajectories = std::move(*traj);
  if (request.rewards_size() != request.group().group_size()) {
    return InvalidArgument("rewards has " + std::to_string(request.rewards_size()) + " values for group_size " +
                           std::to_string(request.group().group_size()));
  }
  for (int i = 0; i < request.rewards_size(); ++i) {
    if (!std::isfinite(request.rewards(i))) {
      return InvalidArgument("rewards[" + std::to_string(i) + "] is not finite");
    }
  }
  s.rewards.assign(request.rewards().begin(), request.rewards().end());
  // Components are for monitoring, but a malformed one is still the sender's error.
  if (request.reward_components_size() > 64) return InvalidArgument("reward_components: more than 64 components");
  for (const auto& [name, values] : request.reward_components()) {
    if (name.empty() || name.size() > 64) return InvalidArgument("reward_components: a name must have 1 to 64 characters");
    if (values.values_size() != request.rewards_size()) {
      return InvalidArgument("reward_components[\"" + name + "\"] has " + std::to_string(values.values_size()) +
                             " values for group_size " + std::to_string(request.rewards_size()));
    }
    for (double v : values.values()) {
      if (!std::isfinite(v)) return InvalidArgument("reward_components[\"" + name + "\"] has a non-finite value");
    }
    s.components[name].assign(values.values().begin(), values.values().end());
  }
  return s;
}

grpc::Status LearnerService::Lease(grpc::ServerContext* context, const v1::LeaseRequest* request,
                                   v1::LeaseReply* reply) {
  if (grpc::Status denied = auth_.Check(*context); !denied.ok()) {
    if (metrics_) metrics_->Rpc("Lease", "UNAUTHENTICATED");
    return denied;
  }
  std::vector<std::string> held;
  if (request->reports_held_leases()) held.assign(request->held_lease_ids().begin(), request->held_lease_ids().end());
  auto batch = core_->Lease(request->worker_id(), request->max_leases(), request->wait_ms(),
                            request->reports_held_leases() ? &held : nullptr, request->worker_instance());
  if (!batch.ok()) {
    if (metrics_) metrics_->Rpc("Lease", "INVALID_ARGUMENT");
    return rpc::ToGrpc(batch.status());
  }
  const auto& t = core_->options().train;
  reply->set_policy_version(batch->version);
  reply->set_group_size(static_cast<int32_t>(t.group_size));
  auto* s = reply->mutable_sampling();
  s->set_steps(static_cast<int32_t>(t.rollout.steps));
  s->set_guidance(t.rollout.guidance);
  s->set_temperature(t.rollout.temperature);
  s->set_gumbel_tau0(t.rollout.gumbel_tau0);
  reply->set_record_full(t.learner.transition == Transition::kFull);
  reply->set_candidate1_noise_edge(t.learner.candidate1_edge == Candidate1Edge::kNoise);
  reply->set_retry_after_ms(batch->retry_after_ms);
  reply->set_finished(batch->finished);
  for (const auto& l : batch->leases) {
    auto* out = reply->add_leases();
    out->set_lease_id(l.lease_id);
    rpc::ToProto(*l.prompt, out->mutable_prompt());
    out->set_deadline_unix_ms(l.deadline_unix_ms);
    out->set_sampling_seed(l.sampling_seed);
  }
  if (metrics_) metrics_->Rpc("Lease", "OK");
  return grpc::Status::OK;
}

grpc::Status LearnerService::Submit(grpc::ServerContext* context, const v1::SubmitRequest* request,
                                    v1::SubmitReply* reply) {
  if (grpc::Status denied = auth_.Check(*context); !denied.ok()) {
    if (metrics_) metrics_->Rpc("Submit", "UNAUTHENTICATED");
    return denied;
  }
  auto submission = DecodeSubmission(*request, core_->image_tokens());
  StatusOr<SubmitOutcome> outcome = submission.ok() ? core_->Submit(std::move(*submission)) : submission.status();
  if (!submission.ok()) core_->CountInvalid();
  const grpc::Status status = outcome.ok() ? grpc::Status::OK : rpc::ToGrpc(outcome.status());
  if (metrics_) metrics_->Rpc("Submit", rpc::CodeName(status.error_code()));
  if (!outcome.ok()) return status;
  switch (*outcome) {
    case SubmitOutcome::kAccepted: reply->set_outcome(v1::SubmitReply::ACCEPTED); break;
    case SubmitOutcome::kDuplicate: reply->set_outcome(v1::SubmitReply::DUPLICATE); break;
    case SubmitOutcome::kResample: reply->set_outcome(v1::SubmitReply::RESAMPLE); break;
    case SubmitOutcome::kDropped: reply->set_outcome(v1::SubmitReply::DROPPED); break;
  }
  reply->set_learner_version(core_->GetStatus().version);
  return grpc::Status::OK;
}

grpc::Status LearnerService::FetchWeights(grpc::ServerContext* context, const v1::FetchWeightsRequest* request,
                                          grpc::ServerWriter<v1::WeightsChunk>* writer) {
  if (grpc::Status denied = auth_.Check(*context); !denied.ok()) {
    if (metrics_) metrics_->Rpc("FetchWeights", "UNAUTHENTICATED");
    return denied;
  }
  const auto start = std::chrono::steady_clock::now();
  auto snapshot = core_->Weights(request->version());
  if (!snapshot) {
    if (metrics_) metrics_->Rpc("FetchWeights", "FAILED_PRECONDITION");
    return {grpc::StatusCode::FAILED_PRECONDITION,
            "version: " + std::to_string(request->version()) + " is not held (the learner is at " +
                std::to_string(core_->GetStatus().version) + "); lease again"};
  }
  if (const int64_t pause = FailpointPauseMs("weights_pause"); pause > 0) {
    log::Info("failpoint weights_pause: FetchWeights of version " + std::to_string(request->version()) + " from " +
              context->peer() + " in flight, pausing " + std::to_string(pause) + " ms");
    std::this_thread::sleep_for(std::chrono::milliseconds(pause));
  }
  int64_t sent = 0;
  auto midstream_failpoint = [&] {
    if (const int64_t pause = FailpointPauseMs("weights_midstream_pause"); pause > 0) {
      log::Info("failpoint weights_midstream_pause: FetchWeights of version " + std::to_string(request->version()) +
                " from " + context->peer() + " has its first chunk written, pausing " + std::to_string(pause) + " ms");
      std::this_thread::sleep_for(std::chrono::milliseconds(pause));
    }
  };
  const bool complete =
      rpc::WriteWeightsStream(*snapshot, request->frozen_fingerprint(), context, writer, &sent, midstream_failpoint);
  if (!complete) {
    if (metrics_) metrics_->Rpc("FetchWeights", "CANCELLED");
    return {grpc::StatusCode::CANCELLED, "weights stream interrupted"};
  }
  if (metrics_) {
    metrics_->Rpc("FetchWeights", "OK");
    metrics_->WeightsServed(sent, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  return grpc::Status::OK;
}

grpc::Status LearnerService::GetStatus(grpc::ServerContext* context, const v1::StatusRequest*,
                                       v1::LearnerStatus* reply) {
  if (grpc::Status denied = auth_.Check(*context); !denied.ok()) {
    if (metrics_) metrics_->Rpc("GetStatus", "UNAUTHENTICATED");
    return denied;
  }
  const auto s = core_->GetStatus();
  reply->set_policy_version(s.version);
  reply->set_target_updates(s.target_updates);
  reply->set_finished(s.finished);
  reply->set_queued_groups(s.queued_groups);
  reply->set_outstanding_leases(s.outstanding_leases);
  reply->set_groups_accepted(s.counters.groups_accepted());
  reply->set_groups_duplicate(s.counters.groups_duplicate());
  reply->set_groups_resampled(s.counters.groups_resampled());
  reply->set_groups_dropped(s.counters.groups_dropped());
  reply->set_groups_stale(s.counters.groups_stale());
  reply->set_groups_invalid(s.counters.groups_invalid());
  reply->set_groups_late(s.counters.groups_late());
  reply->set_leases_expired(s.counters.leases_expired());
  reply->set_leases_released(s.counters.leases_released());
  reply->set_prompts_issued(s.counters.leases_issued());
  reply->set_last_reward_mean(s.last_reward_mean);
  reply->set_last_eval_overall(s.last_eval_overall);
  reply->set_last_eval_version(s.last_eval_version);
  reply->set_pending_prompts(s.pending_prompts);
  reply->set_groups_trained(s.counters.groups_trained());
  if (metrics_) metrics_->Rpc("GetStatus", "OK");
  return grpc::Status::OK;
}

RelayPlannerOptions LearnerService::PlannerOptions(const LearnerCoreOptions& o) {
  RelayPlannerOptions p;
  p.fanout = o.weights_fanout;
  p.wait_ms = o.weights_relay_wait_ms;
  // A fetch that takes longer than a lease would have outlived its lease anyway.
  p.assignment_timeout_ms = o.lease_timeout_ms;
  return p;
}

namespace {

// Checks the fields the two fan-out calls share; an address is host:port, not a URL.
Status CheckRelayFields(const std::string& worker_id, int64_t version, const std::string& address,
                        const std::string& address_field) {
  if (worker_id.empty() || worker_id.size() > kMaxWorkerIdChars) {
    return InvalidArgument("worker_id must have 1 to " + std::to_string(kMaxWorkerIdChars) + " characters");
  }
  if (version < 0) return InvalidArgument("version must be >= 0");
  if (address.size() > 256) return InvalidArgument(address_field + " is longer than 256 characters");
  for (char c : address) {
    if (c <= ' ' || c > '~') return InvalidArgument(address_field + " holds a space or a non-ASCII character");
  }
  return Status::Ok();
}

}  // namespace

grpc::Status LearnerService::WeightsSource(grpc::ServerContext* context, const v1::WeightsSourceRequest* request,
                                           v1::WeightsSourceReply* reply) {
  if (grpc::Status denied = auth_.Check(*context); !denied.ok()) {
    if (metrics_) metrics_->Rpc("WeightsSource", "UNAUTHENTICATED");
    return denied;
  }
  if (Status bad = CheckRelayFields(request->worker_id(), request->version(), request->failed_source(), "failed_source");
      !bad.ok()) {
    if (metrics_) metrics_->Rpc("WeightsSource", "INVALID_ARGUMENT");
    return rpc::ToGrpc(bad);
  }
  const int64_t current = core_->GetStatus().version;
  planner_.Forget(current - core_->options().weights_versions_kept + 1);
  const auto choice = planner_.Choose(request->worker_id(), request->version(), request->failed_source(), rpc::NowUnixMs());
  reply->set_source(choice.source);
  reply->set_retry_after_ms(choice.retry_after_ms);
  if (metrics_) {
    metrics_->Rpc("WeightsSource", "OK");
    if (choice.kind == WeightsSourceKind::kLearner || choice.kind == WeightsSourceKind::kRelay ||
        choice.kind == WeightsSourceKind::kFallback) {
      metrics_->WeightsSourceChosen(WeightsSourceKindName(choice.kind));
    }
  }
  if (!request->failed_source().empty()) {
    log::Info("worker " + request->worker_id() + " could not fetch version " + std::to_string(request->version()) +
              " from relay " + request->failed_source() + "; it fetches from the learner, and no one is sent there");
  }
  return grpc::Status::OK;
}

grpc::Status LearnerService::WeightsHeld(grpc::ServerContext* context, const v1::WeightsHeldRequest* request,
                                         v1::WeightsHeldReply*) {
  if (grpc::Status denied = auth_.Check(*context); !denied.ok()) {
    if (metrics_) metrics_->Rpc("WeightsHeld", "UNAUTHENTICATED");
    return denied;
  }
  if (Status bad = CheckRelayFields(request->worker_id(), request->version(), request->relay_address(), "relay_address");
      !bad.ok()) {
    if (metrics_) metrics_->Rpc("WeightsHeld", "INVALID_ARGUMENT");
    return rpc::ToGrpc(bad);
  }
  // Only a version the learner published can be held; anything else is a confused worker.
  if (!core_->Weights(request->version()) && request->version() > core_->GetStatus().version) {
    if (metrics_) metrics_->Rpc("WeightsHeld", "INVALID_ARGUMENT");
    return {grpc::StatusCode::INVALID_ARGUMENT, "version: " + std::to_string(request->version()) +
                                                    " was never published (the learner is at " +
                                                    std::to_string(core_->GetStatus().version) + ")"};
  }
  planner_.Held(request->worker_id(), request->version(), request->relay_address(), rpc::NowUnixMs());
  if (metrics_) metrics_->Rpc("WeightsHeld", "OK");
  return grpc::Status::OK;
}

}  // namespace maskgrpo::learner
