// FFmpeg error text and allocation helpers (see av_util.h).
#include "server/media/av_util.h"

#include <cstdlib>

#include "absl/strings/str_cat.h"

extern "C" {
#include <libavutil/error.h>
}

namespace stylizer {
namespace media {

std::string AvErrorText(int error) {
  char buf[AV_ERROR_MAX_STRING_SIZE] = {};
  if (av_strerror(error, buf, sizeof(buf)) < 0) {
    return absl::StrCat("FFmpeg error ", error);
  }
  return buf;
}

absl::Status AvError(int error, absl::string_view what, absl::StatusCode code) {
  if (error == AVERROR(ENOMEM)) code = absl::StatusCode::kResourceExhausted;
  return absl::Status(code, absl::StrCat(what, ": ", AvErrorText(error)));
}

AvFramePtr MakeFrame() {
  AVFrame* f = av_frame_alloc();
  if (f == nullptr) std::abort();
  return AvFramePtr(f);
}

AvPacketPtr MakePacket() {
  AVPacket* p = av_packet_alloc();
  if (p == nullptr) std::abort();
  return AvPacketPtr(p);
}

}  // namespace media
}  // namespace stylizer
