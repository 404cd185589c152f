// The model archive file as the server loads it: its bytes, read once, and
// their SHA-256, so that what GetModelInfo, /metrics and the log report as
// the archive's digest is the digest of exactly what was loaded (a file
// replaced during start-up cannot give one the other's digest).
#ifndef STYLIZER_SERVER_ARCHIVE_FILE_H_
#define STYLIZER_SERVER_ARCHIVE_FILE_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace stylizer {

struct ArchiveFile {
  std::shared_ptr<const std::string> bytes;
  std::string sha256;  // 64 lowercase hex digits
};

// Reads `path` whole. NotFound or InvalidArgument (a directory) with the
// path; the model runtime words the errors of a file it cannot parse.
absl::StatusOr<ArchiveFile> ReadArchiveFile(const std::string& path);

// SHA-256 of `bytes`, as 64 lowercase hex digits (FFmpeg's libavutil).
std::string Sha256Hex(absl::string_view bytes);

}  // namespace stylizer

#endif  // STYLIZER_SERVER_ARCHIVE_FILE_H_
