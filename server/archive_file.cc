// Reading and digesting the model archive; see archive_file.h.
#include "server/archive_file.h"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

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

absl::StatusOr<ArchiveFile> ReadArchiveFile(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    return absl::InvalidArgumentError(
        absl::StrCat("model archive ", path, " is a directory, not a file"));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::NotFoundError(absl::StrCat("cannot open model archive ", path,
                                            ": ", std::strerror(errno)));
  }
  std::ostringstream data;
  data << in.rdbuf();
  if (in.bad()) {
    return absl::DataLossError(
        absl::StrCat("cannot read model archive ", path));
  }
  ArchiveFile file;
  auto bytes = std::make_shared<std::string>(std::move(data).str());
  file.sha256 = Sha256Hex(*bytes);
  file.bytes = std::move(bytes);
  return file;
}

}  // namespace stylizer
