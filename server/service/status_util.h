// Conversions at the RPC edge: absl::Status (used everywhere inside the
// server) to grpc::Status and back.
#ifndef STYLIZER_SERVER_SERVICE_STATUS_UTIL_H_
#define STYLIZER_SERVER_SERVICE_STATUS_UTIL_H_

#include "absl/status/status.h"
#include "grpcpp/support/status.h"

namespace stylizer {

// Same code and message (the numeric codes of both are gRPC's).
grpc::Status ToGrpcStatus(const absl::Status& status);

// Same code and message.
absl::Status FromGrpcStatus(const grpc::Status& status);

}  // namespace stylizer

#endif  // STYLIZER_SERVER_SERVICE_STATUS_UTIL_H_
