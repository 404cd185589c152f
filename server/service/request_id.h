// The bound on a caller's x-request-id that the server and the stylizer
// client share: the server logs at most this many bytes of it, and the
// client refuses a --request_id longer than that.
#ifndef STYLIZER_SERVER_SERVICE_REQUEST_ID_H_
#define STYLIZER_SERVER_SERVICE_REQUEST_ID_H_

#include <cstddef>
#include <string>

#include "absl/strings/string_view.h"

namespace stylizer {

inline constexpr size_t kMaxRequestIdBytes = 128;

// A caller's x-request-id as the server logs it: its first
// kMaxRequestIdBytes bytes, each byte outside visible ASCII and space
// turned into '?'. gRPC passes any byte in a header value, and a byte past
// ASCII (or a character cut at the limit) made JSON log lines that are not
// UTF-8, from any caller, token or not.
inline std::string LoggedRequestId(absl::string_view id) {
  std::string out(id.substr(0, kMaxRequestIdBytes));
  for (char& c : out) {
    const unsigned char byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte > 0x7e) c = '?';
  }
  return out;
}

}  // namespace stylizer

#endif  // STYLIZER_SERVER_SERVICE_REQUEST_ID_H_
