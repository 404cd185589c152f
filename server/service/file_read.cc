// See file_read.h.
#include "server/service/file_read.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace stylizer {
namespace {

absl::Status NotRegular(const std::string& path, absl::string_view what) {
  return absl::InvalidArgumentError(
      absl::StrCat("the ", what, " ", path,
                   " is not a regular file (a device, pipe or socket)"));
}

absl::Status Directory(const std::string& path, absl::string_view what) {
  return absl::InvalidArgumentError(
      absl::StrCat("the ", what, " ", path, " is a directory, not a file"));
}

}  // namespace

absl::StatusOr<std::string> ReadWholeFile(const std::string& path,
                                          absl::string_view what,
                                          uint64_t max_bytes) {
  std::error_code ec;
  const std::filesystem::file_status status = std::filesystem::status(path, ec);
  if (std::filesystem::is_directory(status)) return Directory(path, what);
  // Before opening it: opening a FIFO waits for a writer, and opening some
  // devices does something.
  if (std::filesystem::exists(status) &&
      !std::filesystem::is_regular_file(status)) {
    return NotRegular(path, what);
  }
  // O_NONBLOCK: should a FIFO take the path's place since, the open does
  // not wait for a writer (fstat below refuses it).
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) {
    const int err = errno;
    const std::string message = absl::StrCat("cannot read the ", what, " ",
                                             path, ": ", std::strerror(err));
    return err == EACCES ? absl::PermissionDeniedError(message)
                         : absl::NotFoundError(message);
  }
  struct FdCloser {
    int fd;
    ~FdCloser() { close(fd); }
  } closer{fd};
  struct stat st;
  if (fstat(fd, &st) != 0) {
    return absl::DataLossError(absl::StrCat("cannot read the ", what, " ", path,
                                            ": ", std::strerror(errno)));
  }
  if (S_ISDIR(st.st_mode)) return Directory(path, what);
  if (!S_ISREG(st.st_mode)) return NotRegular(path, what);
  const uint64_t size = static_cast<uint64_t>(std::max<off_t>(st.st_size, 0));
  if (size > max_bytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("the ", what, " ", path, " is ", size,
                     " bytes, more than such a file may be (", max_bytes, ")"));
  }
  // Read to the end, but never past max_bytes: a file may grow while it is
  // read, and some (in /proc) say they have 0 bytes.
  std::string data(static_cast<size_t>(size) + 1, '\0');
  size_t got = 0;
  while (true) {
    if (got == data.size()) {
      if (got > max_bytes) break;
      data.resize(static_cast<size_t>(
          std::min<uint64_t>(max_bytes + 1, uint64_t{data.size()} * 2 + 4096)));
    }
    const ssize_t n = read(fd, data.data() + got, data.size() - got);
    if (n < 0) {
      if (errno == EINTR) continue;
      return absl::DataLossError(absl::StrCat(
          "cannot read the ", what, " ", path, ": ", std::strerror(errno)));
    }
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  if (got > max_bytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the ", what, " ", path, " holds more than such a file may (",
        max_bytes, " bytes)"));
  }
  data.resize(got);
  return data;
}

}  // namespace stylizer
