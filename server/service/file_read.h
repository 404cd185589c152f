// Reading a whole small file the server is configured with (TLS files, the
// auth token file, the model archive), or the CLI (its --token_file, --ca,
// --cert and --key), with a message that names the file, what it is for and
// the system's reason.
#ifndef STYLIZER_SERVER_SERVICE_FILE_READ_H_
#define STYLIZER_SERVER_SERVICE_FILE_READ_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace stylizer {

// The most bytes a configuration file (TLS files, tokens) may have: a large
// CA bundle is a few hundred KB.
inline constexpr uint64_t kMaxConfigFileBytes = uint64_t{16} << 20;

// The bytes of the file at `path`; `what` names it in messages ("auth token
// file"). PermissionDenied or NotFound ("cannot read the <what> <path>:
// <reason>"); InvalidArgument for a directory, for what is not a regular
// file (a pipe or a device: /dev/zero read forever and a FIFO blocked the
// start, with no line logged) and for a file over `max_bytes` (by its size,
// or by the bytes read: a file that grows, or one in /proc that says it is
// empty, is read no further).
absl::StatusOr<std::string> ReadWholeFile(
    const std::string& path, absl::string_view what,
    uint64_t max_bytes = kMaxConfigFileBytes);

}  // namespace stylizer

#endif  // STYLIZER_SERVER_SERVICE_FILE_READ_H_
