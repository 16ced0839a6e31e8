#include "core/status.h"

namespace maskgrpo {

std::string Status::ToString() const {
  const char* name = "OK";
  switch (code_) {
    case StatusCode::kOk: name = "OK"; break;
    case StatusCode::kInvalidArgument: name = "INVALID_ARGUMENT"; break;
    case StatusCode::kNotFound: name = "NOT_FOUND"; break;
    case StatusCode::kFailedPrecondition: name = "FAILED_PRECONDITION"; break;
    case StatusCode::kDataLoss: name = "DATA_LOSS"; break;
    case StatusCode::kInternal: name = "INTERNAL"; break;
    case StatusCode::kUnavailable: name = "UNAVAILABLE"; break;
    case StatusCode::kResourceExhausted: name = "RESOURCE_EXHAUSTED"; break;
    case StatusCode::kDeadlineExceeded: name = "DEADLINE_EXCEEDED"; break;
    case StatusCode::kUnauthenticated: name = "UNAUTHENTICATED"; break;
  }
  if (ok()) return name;
  return std::string(name) + ": " + message_;
}

}  // namespace maskgrpo
