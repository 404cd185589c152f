// See file_read.h.
#include "server/service/file_read.h"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace stylizer {

absl::StatusOr<std::string> ReadWholeFile(const std::string& path,
                                          absl::string_view what,
                                          uint64_t max_bytes) {
  std::error_code ec;
  const std::filesystem::file_status status = std::filesystem::status(path, ec);
  if (std::filesystem::is_directory(status)) {
    return absl::InvalidArgumentError(
        absl::StrCat("the ", what, " ", path, " is a directory, not a file"));
  }
  // Before opening it: opening a FIFO waits for a writer.
  if (std::filesystem::exists(status) &&
      !std::filesystem::is_regular_file(status)) {
    return absl::InvalidArgumentError(
        absl::StrCat("the ", what, " ", path,
                     " is not a regular file (a device, pipe or socket)"));
  }
  if (const uintmax_t size = std::filesystem::file_size(path, ec);
      !ec && size > max_bytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("the ", what, " ", path, " is ", size,
                     " bytes, more than such a file may be (", max_bytes, ")"));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    const int err = errno;
    const std::string message = absl::StrCat("cannot read the ", what, " ",
                                             path, ": ", std::strerror(err));
    return err == EACCES ? absl::PermissionDeniedError(message)
                         : absl::NotFoundError(message);
  }
  std::ostringstream data;
  data << in.rdbuf();
  if (in.bad()) {
    return absl::DataLossError(
        absl::StrCat("cannot read the ", what, " ", path));
  }
  return std::move(data).str();
}

}  // namespace stylizer
