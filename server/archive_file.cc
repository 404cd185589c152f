// Reading and digesting the model archive; see archive_file.h.
#include "server/archive_file.h"

#include <algorithm>
#include <utility>

#include "absl/strings/escaping.h"
#include "server/service/file_read.h"

extern "C" {
#include <libavutil/mem.h>
#include <libavutil/sha.h>
}

namespace stylizer {

std::string Sha256Hex(absl::string_view bytes) {
  struct AVSHA* sha = av_sha_alloc();
  uint8_t digest[32];
  av_sha_init(sha, 256);
  // av_sha_update takes an unsigned int length: feed large inputs in parts.
  constexpr size_t kPart = size_t{1} << 30;
  for (size_t pos = 0; pos < bytes.size(); pos += kPart) {
    const size_t n = std::min(kPart, bytes.size() - pos);
    av_sha_update(sha, reinterpret_cast<const uint8_t*>(bytes.data() + pos),
                  static_cast<unsigned int>(n));
  }
  av_sha_final(sha, digest);
  av_free(sha);
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(digest), sizeof(digest)));
}

// Far above any style network (the bundled one is a few MB): a guard
// against a wrong path, such as a disk image, read whole into memory.
constexpr uint64_t kMaxArchiveBytes = uint64_t{4} << 30;

absl::StatusOr<ArchiveFile> ReadArchiveFile(const std::string& path) {
  absl::StatusOr<std::string> data =
      ReadWholeFile(path, "model archive", kMaxArchiveBytes);
  if (!data.ok()) return data.status();
  ArchiveFile file;
  file.sha256 = Sha256Hex(*data);
  file.bytes = std::make_shared<const std::string>(*std::move(data));
  return file;
}

}  // namespace stylizer
