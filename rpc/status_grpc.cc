#include "rpc/status_grpc.h"

namespace maskgrpo::rpc {

grpc::Status ToGrpc(const Status& s) {
  switch (s.code()) {
    case StatusCode::kOk: return grpc::Status::OK;
    case StatusCode::kInvalidArgument: return {grpc::StatusCode::INVALID_ARGUMENT, s.message()};
    case StatusCode::kNotFound: return {grpc::StatusCode::NOT_FOUND, s.message()};
    case StatusCode::kFailedPrecondition: return {grpc::StatusCode::FAILED_PRECONDITION, s.message()};
    case StatusCode::kDataLoss: return {grpc::StatusCode::DATA_LOSS, s.message()};
    case StatusCode::kInternal: return {grpc::StatusCode::INTERNAL, s.message()};
    case StatusCode::kUnavailable: return {grpc::StatusCode::UNAVAILABLE, s.message()};
    case StatusCode::kResourceExhausted: return {grpc::StatusCode::RESOURCE_EXHAUSTED, s.message()};
    case StatusCode::kDeadlineExceeded: return {grpc::StatusCode::DEADLINE_EXCEEDED, s.message()};
    case StatusCode::kUnauthenticated: return {grpc::StatusCode::UNAUTHENTICATED, s.message()};
  }
  return {grpc::StatusCode::UNKNOWN, s.message()};
}

Status FromGrpc(const grpc::Status& s) {
  const std::string& m = s.error_message();
  switch (s.error_code()) {
    case grpc::StatusCode::OK: return Status::Ok();
    case grpc::StatusCode::INVALID_ARGUMENT: return {StatusCode::kInvalidArgument, m};
    case grpc::StatusCode::NOT_FOUND: return {StatusCode::kNotFound, m};
    case grpc::StatusCode::FAILED_PRECONDITION: return {StatusCode::kFailedPrecondition, m};
    case grpc::StatusCode::DATA_LOSS: return {StatusCode::kDataLoss, m};
    case grpc::StatusCode::RESOURCE_EXHAUSTED: return {StatusCode::kResourceExhausted, m};
    case grpc::StatusCode::DEADLINE_EXCEEDED: return {StatusCode::kDeadlineExceeded, m};
    case grpc::StatusCode::UNAUTHENTICATED: return {StatusCode::kUnauthenticated, m};
    case grpc::StatusCode::UNAVAILABLE: return {StatusCode::kUnavailable, m};
    default: return {StatusCode::kInternal, "grpc " + std::to_string(static_cast<int>(s.error_code())) + ": " + m};
  }
}

const char* CodeName(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK: return "OK";
    case grpc::StatusCode::CANCELLED: return "CANCELLED";
    case grpc::StatusCode::INVALID_ARGUMENT: return "INVALID_ARGUMENT";
    case grpc::StatusCode::DEADLINE_EXCEEDED: return "DEADLINE_EXCEEDED";
    case grpc::StatusCode::NOT_FOUND: return "NOT_FOUND";
    case grpc::StatusCode::ALREADY_EXISTS: return "ALREADY_EXISTS";
    case grpc::StatusCode::PERMISSION_DENIED: return "PERMISSION_DENIED";
    case grpc::StatusCode::RESOURCE_EXHAUSTED: return "RESOURCE_EXHAUSTED";
    case grpc::StatusCode::FAILED_PRECONDITION: return "FAILED_PRECONDITION";
    case grpc::StatusCode::ABORTED: return "ABORTED";
    case grpc::StatusCode::OUT_OF_RANGE: return "OUT_OF_RANGE";
    case grpc::StatusCode::UNIMPLEMENTED: return "UNIMPLEMENTED";
    case grpc::StatusCode::INTERNAL: return "INTERNAL";
    case grpc::StatusCode::UNAVAILABLE: return "UNAVAILABLE";
    case grpc::StatusCode::DATA_LOSS: return "DATA_LOSS";
    case grpc::StatusCode::UNAUTHENTICATED: return "UNAUTHENTICATED";
    default: return "UNKNOWN";
  }
}

}  // namespace maskgrpo::rpc
