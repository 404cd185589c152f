// Conversions at the RPC edge: absl::Status (used everywhere inside the
// server) to grpc::Status and back, retry hints included (retry_info.h).
#ifndef STYLIZER_SERVER_SERVICE_STATUS_UTIL_H_
#define STYLIZER_SERVER_SERVICE_STATUS_UTIL_H_

#include "absl/status/status.h"
#include "grpcpp/server_context.h"
#include "grpcpp/support/status.h"

namespace stylizer {

// Same code and message; a retry hint becomes the status's details (a
// google.rpc.Status with a RetryInfo). The numeric codes of both are gRPC's.
grpc::Status ToGrpcStatus(const absl::Status& status);

// Same code and message, and the retry hint of the details, if any.
absl::Status FromGrpcStatus(const grpc::Status& status);

// Adds the grpc-retry-pushback-ms trailer that a call ending with `status`
// (as FromGrpcStatus or CallLog::Finish gives it) should carry (see
// RetryPushbackMs), so that gRPC's own retry policies wait as long as the
// server asks, and never retry an input that is too large. Call it just
// before Finish.
void AddRetryPushback(grpc::ServerContextBase* context,
                      const absl::Status& status);

}  // namespace stylizer

#endif  // STYLIZER_SERVER_SERVICE_STATUS_UTIL_H_
