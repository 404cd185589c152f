// The AVIOContext of a MovieReader over its Spool; see movie_reader_io.h.
#include "server/media/movie_reader_io.h"

#include <optional>

extern "C" {
#include <libavutil/mem.h>
}

namespace stylizer {
namespace media {
namespace {

constexpr int kIoBufferSize = 64 * 1024;

}  // namespace

MovieReader::SpoolIo::SpoolIo(Spool* spool, uint64_t expected_size)
    : spool_(spool), expected_size_(expected_size) {
  auto* buffer = static_cast<unsigned char*>(av_malloc(kIoBufferSize));
  context_.reset(avio_alloc_context(buffer, kIoBufferSize, /*write=*/0, this,
                                    &SpoolIo::Read, nullptr, &SpoolIo::Seek));
  if (context_ == nullptr) av_free(buffer);
}

int MovieReader::SpoolIo::Read(void* opaque, uint8_t* buf, int size) {
  auto* self = static_cast<SpoolIo*>(opaque);
  absl::StatusOr<size_t> n = self->spool_->ReadAt(
      self->position_, reinterpret_cast<char*>(buf), static_cast<size_t>(size));
  if (!n.ok()) {
    self->spool_status_ = n.status();
    QuietFfmpegLogsOnThisThread();  // the upload was abandoned
    return AVERROR_EXIT;
  }
  if (*n == 0) return AVERROR_EOF;
  self->position_ += *n;
  return static_cast<int>(*n);
}

int64_t MovieReader::SpoolIo::KnownSize() const {
  std::optional<uint64_t> final_size = spool_->FinalSize();
  if (final_size.has_value()) return static_cast<int64_t>(*final_size);
  if (expected_size_ > 0) return static_cast<int64_t>(expected_size_);
  return -1;
}

int64_t MovieReader::SpoolIo::Seek(void* opaque, int64_t offset, int whence) {
  auto* self = static_cast<SpoolIo*>(opaque);
  whence &= ~AVSEEK_FORCE;
  int64_t target = 0;
  switch (whence) {
    case AVSEEK_SIZE:
      return self->KnownSize();
    case SEEK_SET:
      target = offset;
      break;
    case SEEK_CUR:
      target = static_cast<int64_t>(self->position_) + offset;
      break;
    case SEEK_END: {
      int64_t size = self->KnownSize();
      if (size < 0 && self->end_unknown_is_error_) return AVERROR(ENOSYS);
      if (size < 0) {
        absl::StatusOr<uint64_t> final_size = self->spool_->WaitForFinalSize();
        if (!final_size.ok()) {
          self->spool_status_ = final_size.status();
          QuietFfmpegLogsOnThisThread();  // the upload was abandoned
          return AVERROR_EXIT;
        }
        size = static_cast<int64_t>(*final_size);
      }
      target = size + offset;
      break;
    }
    default:
      return AVERROR(EINVAL);
  }
  if (target < 0) return AVERROR(EINVAL);
  self->position_ = static_cast<uint64_t>(target);
  return target;
}

}  // namespace media
}  // namespace stylizer
