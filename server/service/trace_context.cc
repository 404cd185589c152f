// W3C traceparent parsing; see trace_context.h.
#include "server/service/trace_context.h"

#include "absl/strings/ascii.h"

namespace stylizer {
namespace {

bool IsLowerHex(absl::string_view s) {
  for (const char c : s) {
    if (!absl::ascii_isxdigit(c) || absl::ascii_isupper(c)) return false;
  }
  return true;
}

bool AllZero(absl::string_view s) {
  return s.find_first_not_of('0') == absl::string_view::npos;
}

}  // namespace

std::string TraceIdFromTraceparent(absl::string_view traceparent) {
  // version "-" trace-id "-" parent-id "-" flags: 2 + 1 + 32 + 1 + 16 + 1 + 2.
  constexpr size_t kLength = 55;
  if (traceparent.size() < kLength) return std::string();
  const absl::string_view version = traceparent.substr(0, 2);
  const absl::string_view trace_id = traceparent.substr(3, 32);
  const absl::string_view parent_id = traceparent.substr(36, 16);
  const absl::string_view flags = traceparent.substr(53, 2);
  if (traceparent[2] != '-' || traceparent[35] != '-' ||
      traceparent[52] != '-') {
    return std::string();
  }
  if (!IsLowerHex(version) || version == "ff" || !IsLowerHex(trace_id) ||
      !IsLowerHex(parent_id) || !IsLowerHex(flags) || AllZero(trace_id) ||
      AllZero(parent_id)) {
    return std::string();
  }
  // Version 00 is exactly this long; a later one may go on after a "-".
  if (traceparent.size() > kLength &&
      (version == "00" || traceparent[kLength] != '-')) {
    return std::string();
  }
  return std::string(trace_id);
}

}  // namespace stylizer
