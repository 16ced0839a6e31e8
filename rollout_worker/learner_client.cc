#include "rollout_worker/learner_client.h"

#include <ATen/core/Tensor.h>
#include <grpcpp/client_context.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>

#include "rollout_worker/backoff.h"
#include "rpc/security.h"
#include "rpc/status_grpc.h"
#include "rpc/weights_stream.h"

namespace maskgrpo::worker {

LearnerClient::LearnerClient(std::shared_ptr<grpc::Channel> channel, std::chrono::milliseconds rpc_deadline,
                             std::chrono::milliseconds weights_deadline, std::string token)
    : channel_(channel),
      stub_(v1::Learner::NewStub(channel)),
      rpc_deadline_(rpc_deadline),
      weights_deadline_(weights_deadline),
      token_(std::move(token)) {}

void LearnerClient::Prepare(grpc::ClientContext* context, std::chrono::milliseconds deadline) const {
  context->set_deadline(std::chrono::system_clock::now() + deadline);
  rpc::AttachToken(context, token_);
}

LearnerClient::~LearnerClient() = default;

StatusOr<v1::LeaseReply> LearnerClient::Lease(const std::string& worker_id, int max_leases, int wait_ms,
                                              const std::vector<std::string>* held, const std::string& instance) {
  grpc::ClientContext context;
  // The learner may hold the call for wait_ms: the deadline covers that on top.
  Prepare(&context, rpc_deadline_ + std::chrono::milliseconds(wait_ms));
  v1::LeaseRequest request;
  request.set_worker_id(worker_id);
  request.set_max_leases(max_leases);
  request.set_wait_ms(wait_ms);
  request.set_worker_instance(instance);
  if (held) {
    request.set_reports_held_leases(true);
    for (const auto& id : *held) request.add_held_lease_ids(id);
  }
  {
    std::lock_guard<std::mutex> lock(lease_mu_);
    if (leases_cancelled_) return Status(StatusCode::kUnavailable, "Lease: the worker is stopping");
    leases_in_flight_.insert(&context);
  }
  v1::LeaseReply reply;
  grpc::Status s = stub_->Lease(&context, request, &reply);
  {
    std::lock_guard<std::mutex> lock(lease_mu_);
    leases_in_flight_.erase(&context);
  }
  if (!s.ok()) return rpc::FromGrpc(s);
  return reply;
}

void LearnerClient::PauseBeforeRetry(std::chrono::milliseconds delay) { worker::PauseBeforeRetry(*channel_, delay); }

void LearnerClient::CancelLeases() {
  std::lock_guard<std::mutex> lock(lease_mu_);
  leases_cancelled_ = true;
  for (grpc::ClientContext* context : leases_in_flight_) context->TryCancel();
}

StatusOr<v1::SubmitReply> LearnerClient::Submit(const v1::SubmitRequest& request) {
  grpc::ClientContext context;
  Prepare(&context, rpc_deadline_);
  v1::SubmitReply reply;
  grpc::Status s = stub_->Submit(&context, request, &reply);
  if (!s.ok()) return rpc::FromGrpc(s);
  return reply;
}

StatusOr<v1::LearnerStatus> LearnerClient::GetStatus() {
  grpc::ClientContext context;
  Prepare(&context, rpc_deadline_);
  v1::LearnerStatus reply;
  grpc::Status s = stub_->GetStatus(&context, v1::StatusRequest(), &reply);
  if (!s.ok()) return rpc::FromGrpc(s);
  return reply;
}

StatusOr<FetchedWeights> LearnerClient::FetchWeights(int64_t version, uint64_t held_frozen_fingerprint) {
  return ReadWeights(
      [this](grpc::ClientContext* context, const v1::FetchWeightsRequest& request) {
        return stub_->FetchWeights(context, request);
      },
      version, held_frozen_fingerprint);
}

StatusOr<FetchedWeights> LearnerClient::FetchWeightsFromRelay(const std::string& address, int64_t version,
                                                              uint64_t held_frozen_fingerprint) {
  v1::WeightsRelay::Stub* stub = nullptr;
  {
    std::lock_guard<std::mutex> lock(relay_mu_);
    auto& slot = relay_stubs_[address];
    if (!slot) {
      grpc::ChannelArguments args;
      args.SetMaxReceiveMessageSize(4 << 20);
      auto channel = rpc::MakeChannel(address, relay_tls_, args, "relay_client_tls");
      if (!channel.ok()) return channel.status();
      slot = v1::WeightsRelay::NewStub(*channel);
    }
    stub = slot.get();
  }
  return ReadWeights(
      [stub](grpc::ClientContext* context, const v1::FetchWeightsRequest& request) {
        return stub->FetchWeights(context, request);
      },
      version, held_frozen_fingerprint);
}

Status LearnerClient::SetRelayTls(const config::ClientTlsConfig& tls) {
  // A throw-away channel reads and checks the files (no connection is made).
  auto probe = rpc::MakeChannel("127.0.0.1:1", tls, grpc::ChannelArguments(), "relay_client_tls");
  if (!probe.ok()) return probe.status();
  std::lock_guard<std::mutex> lock(relay_mu_);
  relay_tls_ = tls;
  return Status::Ok();
}

StatusOr<v1::WeightsSourceReply> LearnerClient::WeightsSource(const std::string& worker_id, int64_t version,
                                                              const std::string& failed_source) {
  grpc::ClientContext context;
  Prepare(&context, rpc_deadline_);
  v1::WeightsSourceRequest request;
  request.set_worker_id(worker_id);
  request.set_version(version);
  request.set_failed_source(failed_source);
  v1::WeightsSourceReply reply;
  grpc::Status s = stub_->WeightsSource(&context, request, &reply);
  if (!s.ok()) return rpc::FromGrpc(s);
  return reply;
}

Status LearnerClient::WeightsHeld(const std::string& worker_id, int64_t version, const std::string& relay_address) {
  grpc::ClientContext context;
  Prepare(&context, rpc_deadline_);
  v1::WeightsHeldRequest request;
  request.set_worker_id(worker_id);
  request.set_version(version);
  request.set_relay_address(relay_address);
  v1::WeightsHeldReply reply;
  grpc::Status s = stub_->WeightsHeld(&context, request, &reply);
  if (!s.ok()) return rpc::FromGrpc(s);
  return Status::Ok();
}

StatusOr<FetchedWeights> LearnerClient::ReadWeights(const OpenStream& open, int64_t version,
                                                    uint64_t held_frozen_fingerprint) {
  const auto start = std::chrono::steady_clock::now();
  grpc::ClientContext context;
  Prepare(&context, weights_deadline_);
  v1::FetchWeightsRequest request;
  request.set_version(version);
  request.set_frozen_fingerprint(held_frozen_fingerprint);
  auto reader = open(&context, request);
  rpc::WeightsAssembler assembler(version);
  v1::WeightsChunk chunk;
  Status failed;
  while (reader->Read(&chunk)) {
    if (!failed.ok()) continue;  // drain, then report the first problem
    failed = assembler.Add(chunk);
    if (!failed.ok()) context.TryCancel();
  }
  grpc::Status s = reader->Finish();
  if (!failed.ok()) return failed;
  if (!s.ok()) {
    Status st = rpc::FromGrpc(s);
    if (assembler.bytes_received() == 0) return st;
    // Say that the stream broke off part-way: what arrived is dropped, nothing is applied.
    return Status(st.code(), st.message() + " (after " + std::to_string(assembler.bytes_received()) +
                                 " bytes of the stream, discarded)");
  }
  ASSIGN_OR_RETURN(auto received, assembler.FinishSnapshot());
  FetchedWeights out;
  out.version = version;
  out.model_config_json = assembler.model_config_json();
  out.probe = assembler.probe();
  out.frozen_fingerprint = assembler.frozen_fingerprint();
  out.trained_only = assembler.trained_only();
  if (out.trained_only && out.frozen_fingerprint != held_frozen_fingerprint) {
    return DataLoss("weights stream of version " + std::to_string(version) +
                    ": trained parameters only, for frozen parameters this worker does not hold");
  }
  for (const auto& t : received->tensors) out.tensors.emplace(t.name, t.storage);
  out.received = std::move(received);
  out.bytes = assembler.bytes_received();
  out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return out;
}

}  // namespace maskgrpo::worker
