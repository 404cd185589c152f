// Reading the inputs of `stylizer image` and checking that each is a PNG or
// a JPEG, from a file or standard input; see cmd_image_internal.h.
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <istream>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "client/byte_source.h"
#include "client/cmd_image_internal.h"
#include "client/image_signatures.h"
#include "client/output_files.h"
#include "server/common/image_kind.h"

namespace stylizer::client {
namespace {

bool IsPngOrJpeg(const std::string& data) {
  return absl::StartsWith(data, kPngSignature) ||
         absl::StartsWith(data, kJpegSignature);
}

// All of standard input's bytes. From its descriptor where there is one,
// in slices that `stop` ends: a read blocked on a silent pipe held the
// command (Ctrl-C, another input's fatal failure) until the pipe closed.
absl::StatusOr<std::string> ReadAll(const CommandIo& io,
                                    const std::atomic<bool>& stop) {
  std::string data;
  char buf[1 << 16];
  if (io.in_fd >= 0) {
    while (true) {
      absl::StatusOr<size_t> got =
          ReadSome(io.in_fd, buf, sizeof(buf), stop, "standard input");
      if (!got.ok()) return got.status();
      if (*got == 0) return data;
      data.append(buf, *got);
    }
  }
  std::istream* in = io.in;
  while (in->read(buf, sizeof(buf)) || in->gcount() > 0) {
    data.append(buf, static_cast<size_t>(in->gcount()));
  }
  if (in->bad()) return absl::InternalError("cannot read standard input");
  return data;
}

// Whether `head`, the first bytes read so far, can still start a PNG or a
// JPEG.
bool MayBePngOrJpeg(absl::string_view head) {
  for (absl::string_view signature : {kPngSignature, kJpegSignature}) {
    const size_t n = std::min(head.size(), signature.size());
    if (head.substr(0, n) == signature.substr(0, n)) return true;
  }
  return false;
}

// Whether `head` (a file's first bytes) starts as a movie does: MP4 and
// QuickTime (a box type at byte 4; HEIF and AVIF are named as images before
// this is asked), Matroska and WebM, AVI, MPEG-TS, MPEG-PS, FLV.
bool LooksLikeMovie(absl::string_view head) {
  if (head.size() >= 8) {
    const absl::string_view box = head.substr(4, 4);
    if (box == "ftyp" || box == "moov" || box == "mdat" || box == "wide" ||
        box == "free") {
      return true;
    }
  }
  if (absl::StartsWith(head, "\x1a\x45\xdf\xa3") ||
      absl::StartsWith(head, "FLV") ||
      absl::StartsWith(head, absl::string_view("\0\0\x01\xba", 4))) {
    return true;
  }
  if (absl::StartsWith(head, "RIFF") && head.size() >= 12 &&
      head.substr(8, 3) == "AVI") {
    return true;
  }
  return head.size() > 188 && head[0] == 0x47 && head[188] == 0x47;
}

// `what` (its bytes: `data`) is not a PNG or JPEG, naming its format where
// that is known.
absl::Status NotPngOrJpeg(const std::string& what, absl::string_view data) {
  if (data.empty()) return absl::InvalidArgumentError(what + " is empty");
  if (absl::string_view kind = OtherImageKind(data); !kind.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " is a ", kind,
                     " image; the server takes PNG or JPEG: convert it first"));
  }
  if (LooksLikeMovie(data)) {
    return absl::InvalidArgumentError(
        absl::StrCat(what,
                     " is a movie, not a PNG or JPEG image; stylize it with "
                     "stylizer video"));
  }
  return absl::InvalidArgumentError(
      absl::StrCat(what, " is not a PNG or JPEG image"));
}

// The bytes of descriptor `fd`, in slices that `stop` ends, refused as soon
// as its first bytes cannot start a PNG or JPEG: a movie or a device given
// by mistake was read whole into memory first (/dev/zero without end), and
// Ctrl-C waited for the read.
absl::StatusOr<std::string> ReadImageBytes(int fd, const std::string& what,
                                           const std::atomic<bool>& stop) {
  std::string data;
  char buf[1 << 16];
  while (true) {
    absl::StatusOr<size_t> got = ReadSome(fd, buf, sizeof(buf), stop, what);
    if (!got.ok()) return got.status();
    if (*got == 0) return data;
    data.append(buf, *got);
    if (!MayBePngOrJpeg(data)) return NotPngOrJpeg(what, data);
  }
}

}  // namespace

absl::StatusOr<std::string> ReadImage(const std::string& input,
                                      const CommandIo& io,
                                      const std::atomic<bool>& stop) {
  const bool from_stdin = input == kStdioName;
  const std::string what = from_stdin ? "standard input" : input;
  absl::StatusOr<std::string> data;
  if (from_stdin && io.in_fd < 0) {
    data = ReadAll(io, stop);  // a stream without a descriptor (tests)
  } else if (from_stdin) {
    data = ReadImageBytes(io.in_fd, what, stop);
  } else {
    absl::StatusOr<int> fd = OpenForReading(input);
    if (!fd.ok()) return fd.status();
    data = ReadImageBytes(*fd, what, stop);
    close(*fd);
  }
  if (!data.ok()) return data.status();
  if (!IsPngOrJpeg(*data)) return NotPngOrJpeg(what, *data);
  return data;
}

}  // namespace stylizer::client
