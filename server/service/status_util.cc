// absl::Status <-> grpc::Status; see status_util.h.
#include "server/service/status_util.h"

#include <optional>
#include <string>

#include "server/service/retry_info.h"

namespace stylizer {

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()),
                      std::string(status.message()), RpcStatusDetails(status));
}

absl::Status FromGrpcStatus(const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  return WithRetryDelayFrom(
      absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                   status.error_message()),
      status.error_details());
}

void AddRetryPushback(grpc::ServerContextBase* context,
                      const absl::Status& status) {
  const std::optional<std::string> ms = RetryPushbackMs(status);
  if (ms.has_value())
    context->AddTrailingMetadata("grpc-retry-pushback-ms", *ms);
}

}  // namespace stylizer
