// Retry hints as absl payloads and google.rpc details; see retry_info.h.
#include "server/service/retry_info.h"

#include <algorithm>
#include <cstdint>
#include <utility>

#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/any.pb.h"
#include "google/protobuf/duration.pb.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"

namespace stylizer {
namespace {

// The type URL an Any gives a RetryInfo; also the payload's key.
constexpr char kRetryInfoUrl[] = "type.googleapis.com/google.rpc.RetryInfo";

std::optional<absl::Duration> DelayOf(const google::rpc::RetryInfo& info) {
  if (!info.has_retry_delay()) return std::nullopt;
  const absl::Duration d = absl::Seconds(info.retry_delay().seconds()) +
                           absl::Nanoseconds(info.retry_delay().nanos());
  if (d < absl::ZeroDuration()) return std::nullopt;
  return d;
}

}  // namespace

absl::Status WithRetryDelay(absl::Status status, absl::Duration delay) {
  if (status.ok()) return status;
  const int64_t ms = std::max<int64_t>(
      1, absl::ToInt64Milliseconds(absl::Ceil(delay, absl::Milliseconds(1))));
  google::rpc::RetryInfo info;
  info.mutable_retry_delay()->set_seconds(ms / 1000);
  info.mutable_retry_delay()->set_nanos(static_cast<int32_t>(ms % 1000) *
                                        1000000);
  status.SetPayload(kRetryInfoUrl, absl::Cord(info.SerializeAsString()));
  return status;
}

std::optional<absl::Duration> RetryDelay(const absl::Status& status) {
  const auto payload = status.GetPayload(kRetryInfoUrl);
  if (!payload.has_value()) return std::nullopt;
  google::rpc::RetryInfo info;
  if (!info.ParseFromString(std::string(*payload))) return std::nullopt;
  return DelayOf(info);
}

absl::Status Reworded(const absl::Status& from, absl::StatusCode code,
                      std::string message) {
  absl::Status out(code, message);
  if (out.ok()) return out;
  from.ForEachPayload([&out](absl::string_view url, const absl::Cord& value) {
    out.SetPayload(url, value);
  });
  return out;
}

std::string RpcStatusDetails(const absl::Status& status) {
  const auto payload = status.GetPayload(kRetryInfoUrl);
  if (status.ok() || !payload.has_value()) return std::string();
  google::rpc::Status rpc;
  rpc.set_code(static_cast<int32_t>(status.code()));
  rpc.set_message(std::string(status.message()));
  google::protobuf::Any* any = rpc.add_details();
  any->set_type_url(kRetryInfoUrl);
  any->set_value(std::string(*payload));
  return rpc.SerializeAsString();
}

std::optional<absl::Duration> RetryDelayIn(const std::string& details) {
  if (details.empty()) return std::nullopt;
  google::rpc::Status rpc;
  if (!rpc.ParseFromString(details)) return std::nullopt;
  for (const google::protobuf::Any& any : rpc.details()) {
    google::rpc::RetryInfo info;
    if (!any.Is<google::rpc::RetryInfo>() || !any.UnpackTo(&info)) continue;
    if (std::optional<absl::Duration> d = DelayOf(info); d.has_value()) {
      return d;
    }
  }
  return std::nullopt;
}

absl::Status WithRetryDelayFrom(absl::Status status,
                                const std::string& details) {
  if (status.ok()) return status;
  const std::optional<absl::Duration> delay = RetryDelayIn(details);
  return delay.has_value() ? WithRetryDelay(std::move(status), *delay)
                           : status;
}

std::optional<std::string> RetryPushbackMs(const absl::Status& status) {
  if (std::optional<absl::Duration> d = RetryDelay(status); d.has_value()) {
    return absl::StrCat(absl::ToInt64Milliseconds(*d));
  }
  if (status.code() == absl::StatusCode::kResourceExhausted) return "-1";
  return std::nullopt;
}

}  // namespace stylizer
