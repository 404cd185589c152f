// Checks of Server::Options made before the server starts; see
// server_options_check.h.
#include "server/service/server_options_check.h"

#include <algorithm>
#include <cstdint>

#include "absl/strings/str_cat.h"

namespace stylizer {

absl::Status ValidateServerOptions(const Server::Options& o) {
  if (!o.load_model && !o.load_models) {
    return absl::InvalidArgumentError("no model loader given");
  }
  if (o.port < 0 || o.port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("port must be in [0, 65535], got ", o.port));
  }
  if (o.limits.max_frame_pixels < 1 || o.limits.max_styles_per_request < 1 ||
      o.limits.max_concurrent_streams < 1 ||
      o.limits.max_frames_buffered_per_stream < 1) {
    return absl::InvalidArgumentError(
        "max_frame_pixels, max_styles_per_request, max_concurrent_streams and "
        "max_frames_buffered_per_stream must be positive");
  }
  if (o.max_health_watchers < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_health_watchers must not be negative, got ",
                     o.max_health_watchers));
  }
  if (o.max_receive_message_bytes < 1024 || o.max_send_message_bytes < 1024) {
    return absl::InvalidArgumentError(
        "message size limits must be at least 1024 bytes");
  }
  if (o.keepalive_time <= absl::ZeroDuration() ||
      o.keepalive_timeout <= absl::ZeroDuration() ||
      o.keepalive_min_client_interval < absl::ZeroDuration()) {
    return absl::InvalidArgumentError("keepalive durations must be positive");
  }
  if (o.handshake_timeout < absl::Milliseconds(1)) {
    return absl::InvalidArgumentError(
        "handshake_timeout must be at least 1 ms (gRPC takes milliseconds)");
  }
  if (o.max_connection_idle <= absl::ZeroDuration() ||
      o.max_connection_age <= absl::ZeroDuration() ||
      o.max_connection_age_grace < absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        "max_connection_idle and max_connection_age must be positive "
        "(inf = no limit), max_connection_age_grace not negative");
  }
  return absl::OkStatus();
}

absl::StatusOr<Server::Options> ApplyMemoryBudget(Server::Options o) {
  if (o.memory_budget_bytes < 0 || o.grpc_memory_quota_bytes < -1) {
    return absl::InvalidArgumentError(
        "memory_budget_bytes must be >= 0 and grpc_memory_quota_bytes >= -1");
  }
  const int64_t min_grpc = 2 * int64_t{o.max_receive_message_bytes};
  if (o.grpc_memory_quota_bytes == 0) {
    o.grpc_memory_quota_bytes =
        o.memory_budget_bytes == 0
            ? -1
            : std::max<int64_t>(o.memory_budget_bytes / 4, min_grpc);
  }
  if (o.grpc_memory_quota_bytes > 0 && o.grpc_memory_quota_bytes < min_grpc) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the gRPC memory quota (", o.grpc_memory_quota_bytes,
        " bytes) must hold two requests of max_receive_message_bytes (",
        o.max_receive_message_bytes, ")"));
  }
  if (o.memory_budget_bytes == 0) return o;
  const int64_t grpc_share = std::max<int64_t>(o.grpc_memory_quota_bytes, 0);
  if (grpc_share >= o.memory_budget_bytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("the gRPC memory quota (", grpc_share,
                     " bytes) must be smaller than the memory budget (",
                     o.memory_budget_bytes,
                     " bytes); raise --memory_budget_bytes, or lower "
                     "--grpc_memory_quota_bytes or "
                     "--max_receive_message_bytes"));
  }
  o.queue.max_queued_bytes = std::min<int64_t>(
      o.queue.max_queued_bytes, o.memory_budget_bytes - grpc_share);
  return o;
}

}  // namespace stylizer
