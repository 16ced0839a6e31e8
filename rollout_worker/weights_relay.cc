#include "rollout_worker/weights_relay.h"

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

StatusOr<std::string> RelayAdvertiseAddress(const std::string& listen, int port, const std::string& advertise) {
  if (!advertise.empty()) return advertise;
  const auto colon = listen.rfind(':');
  if (colon == std::string::npos) return InvalidArgument("relay_listen '" + listen + "' is not HOST:PORT");
  const std::string host = listen.substr(0, colon);
  if (host.empty() || host == "0.0.0.0" || host == "[::]" || host == "::") {
    return InvalidArgument("relay_listen '" + listen +
                           "' listens on every interface: set relay_advertise to the address other workers reach");
  }
  return host + ":" + std::to_string(port);
}

}  // namespace maskgrpo::worker
