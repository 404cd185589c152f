// Checks of Server::Options made before the server starts: ranges the flags
// cannot express, and the memory budget's split between gRPC and the queue.
#ifndef STYLIZER_SERVER_SERVICE_SERVER_OPTIONS_CHECK_H_
#define STYLIZER_SERVER_SERVICE_SERVER_OPTIONS_CHECK_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "server/service/server.h"

namespace stylizer {

// INVALID_ARGUMENT naming the first option out of its range.
absl::Status ValidateServerOptions(const Server::Options& options);

// Resolves the memory budget's share for gRPC (0 = a quarter of the budget,
// at least two of the largest requests) and caps the queue's bytes by what
// the budget has left. INVALID_ARGUMENT when the gRPC quota cannot hold two
// of the largest requests (gRPC would reset such streams with
// ENHANCE_YOUR_CALM) or does not fit in the budget.
absl::StatusOr<Server::Options> ApplyMemoryBudget(Server::Options options);

}  // namespace stylizer

#endif  // STYLIZER_SERVER_SERVICE_SERVER_OPTIONS_CHECK_H_
