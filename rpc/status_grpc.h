// Mapping between the core library's Status and grpc::Status, in one place.
#pragma once

#include <grpcpp/support/status.h>

#include "core/status.h"

namespace maskgrpo::rpc {

grpc::Status ToGrpc(const Status& s);
Status FromGrpc(const grpc::Status& s);

// "OK", "INVALID_ARGUMENT", ...: the label value metrics use.
const char* CodeName(grpc::StatusCode code);

}  // namespace maskgrpo::rpc
