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
                                          absl::string_view what) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    return absl::InvalidArgumentError(
        absl::StrCat("the ", what, " ", path, " is a directory, not a file"));
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
