// Reading a whole small file the server is configured with (TLS files, the
// auth token file, the model archive), with a message that names the file,
// what it is for and the system's reason.
#ifndef STYLIZER_SERVER_SERVICE_FILE_READ_H_
#define STYLIZER_SERVER_SERVICE_FILE_READ_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace stylizer {

// The bytes of the file at `path`; `what` names it in messages ("auth token
// file"). PermissionDenied or NotFound ("cannot read the <what> <path>:
// <reason>"), InvalidArgument for a directory.
absl::StatusOr<std::string> ReadWholeFile(const std::string& path,
                                          absl::string_view what);

}  // namespace stylizer

#endif  // STYLIZER_SERVER_SERVICE_FILE_READ_H_
