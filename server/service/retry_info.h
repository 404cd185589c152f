// When to try a refused call again, in the form gRPC clients already read:
// a google.rpc.RetryInfo in the status's details (the rich error model) and,
// for gRPC's own retry policies, the grpc-retry-pushback-ms trailer.
//
// Inside the server a refusal that clears by itself (stream slots, the
// memory budget, a full queue: the server is busy, not the input wrong)
// carries the delay as an absl::Status payload; ToGrpcStatus turns it into
// the status's details, and the client turns the details back into the same
// payload. A RESOURCE_EXHAUSTED without one (an input larger than any limit)
// is final: retrying it cannot help.
#ifndef STYLIZER_SERVER_SERVICE_RETRY_INFO_H_
#define STYLIZER_SERVER_SERVICE_RETRY_INFO_H_

#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace stylizer {

// `status` with a hint to retry after `delay` (rounded up to whole
// milliseconds, at least 1 ms). An OK status stays OK.
absl::Status WithRetryDelay(absl::Status status, absl::Duration delay);

// The delay `status` carries, if any.
std::optional<absl::Duration> RetryDelay(const absl::Status& status);

// A status with `code` and `message` and every payload of `from` (so that
// rewording a refusal keeps its retry hint).
absl::Status Reworded(const absl::Status& from, absl::StatusCode code,
                      std::string message);

// The serialized google.rpc.Status for a gRPC status's details: code,
// message, and a RetryInfo when `status` carries a delay. Empty when it
// carries none (gRPC then sends no details).
std::string RpcStatusDetails(const absl::Status& status);

// The delay of the first usable RetryInfo in `details` (a serialized
// google.rpc.Status, as a gRPC status's error_details), if any.
std::optional<absl::Duration> RetryDelayIn(const std::string& details);

// `status` with the delay RetryDelayIn(details) finds, if it finds one.
absl::Status WithRetryDelayFrom(absl::Status status,
                                const std::string& details);

// The value of the grpc-retry-pushback-ms trailer for a call that ends with
// `status`: the delay in ms when it carries one, "-1" (do not retry) for a
// RESOURCE_EXHAUSTED without one, and nothing for other statuses.
std::optional<std::string> RetryPushbackMs(const absl::Status& status);

}  // namespace stylizer

#endif  // STYLIZER_SERVER_SERVICE_RETRY_INFO_H_
