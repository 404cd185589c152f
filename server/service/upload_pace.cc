// The floor under an upload's speed; see upload_pace.h.
#include "server/service/upload_pace.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace stylizer {

UploadPace::UploadPace(uint64_t min_bytes_per_second, absl::Duration window)
    : min_bytes_per_second_(min_bytes_per_second), window_(window) {}

absl::Status UploadPace::Add(uint64_t bytes, absl::Duration waited) {
  if (min_bytes_per_second_ == 0 || window_ <= absl::ZeroDuration() ||
      window_ == absl::InfiniteDuration()) {
    return absl::OkStatus();
  }
  waited_ += std::max(waited, absl::ZeroDuration());
  bytes_ += bytes;
  if (waited_ < window_) return absl::OkStatus();
  const double seconds = absl::ToDoubleSeconds(waited_);
  const double owed = seconds * static_cast<double>(min_bytes_per_second_);
  const uint64_t sent = bytes_;
  waited_ = absl::ZeroDuration();
  bytes_ = 0;
  if (static_cast<double>(sent) >= owed) return absl::OkStatus();
  return absl::DeadlineExceededError(absl::StrFormat(
      "the upload is too slow: %d bytes came in the last %s the server "
      "waited for them (%.0f bytes/s), below the server's floor of %d "
      "bytes/s (--upload_min_rate); the stream is closed: send the movie "
      "faster, over a faster link",
      sent, absl::FormatDuration(absl::Seconds(static_cast<int64_t>(seconds))),
      static_cast<double>(sent) / seconds, min_bytes_per_second_));
}

}  // namespace stylizer
