// MovieReader::SpoolIo: the AVIOContext over the upload's Spool that a
// MovieReader's demuxer reads. Internal to MovieReader (movie_reader.h).
#ifndef STYLIZER_SERVER_MEDIA_MOVIE_READER_IO_H_
#define STYLIZER_SERVER_MEDIA_MOVIE_READER_IO_H_

#include <cstdint>

#include "absl/cleanup/cleanup.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "server/media/av_util.h"
#include "server/media/movie_reader.h"
#include "server/media/spool.h"

namespace stylizer {
namespace media {

// The AVIOContext callbacks: reads and seeks over the spool. Remembers the
// spool's own error so that an aborted upload is reported as such rather than
// as FFmpeg's generic "Immediate exit requested".
class MovieReader::SpoolIo {
 public:
  SpoolIo(Spool* spool, uint64_t expected_size);

  AVIOContext* context() { return context_.get(); }
  // The spool's bytes, read past the demuxer (for checks of the whole file).
  absl::StatusOr<size_t> ReadAt(uint64_t offset, char* out, size_t size) const {
    return spool_->ReadAt(offset, out, size);
  }
  const absl::Status& spool_status() const { return spool_status_; }
  // While the returned guard lives (and `on`), a seek to the end of an
  // upload of unknown size fails at once instead of waiting for the
  // upload to end.
  [[nodiscard]] auto EndUnknownIsError(bool on) {
    end_unknown_is_error_ = on;
    return absl::MakeCleanup([this] { end_unknown_is_error_ = false; });
  }

 private:
  static int Read(void* opaque, uint8_t* buf, int size);
  // Size when known: the finished upload's, else the client's announcement.
  int64_t KnownSize() const;
  static int64_t Seek(void* opaque, int64_t offset, int whence);

  Spool* spool_;
  uint64_t expected_size_;
  bool end_unknown_is_error_ = false;
  uint64_t position_ = 0;
  absl::Status spool_status_;
  AvioContextPtr context_;
};

}  // namespace media
}  // namespace stylizer

#endif  // STYLIZER_SERVER_MEDIA_MOVIE_READER_IO_H_
