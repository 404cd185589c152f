// The bound on a caller's x-request-id that the server and the stylizer
// client share: the server logs at most this many bytes of it, and the
// client refuses a --request_id longer than that.
#ifndef STYLIZER_SERVER_SERVICE_REQUEST_ID_H_
#define STYLIZER_SERVER_SERVICE_REQUEST_ID_H_

#include <cstddef>

namespace stylizer {

inline constexpr size_t kMaxRequestIdBytes = 128;

}  // namespace stylizer

#endif  // STYLIZER_SERVER_SERVICE_REQUEST_ID_H_
