// FFmpeg error text and allocation helpers (see av_util.h).
#include "server/media/av_util.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "absl/strings/str_cat.h"

extern "C" {
#include <libavutil/avstring.h>
#include <libavutil/display.h>
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

absl::StatusOr<AvFramePtr> MakeVideoFrame(AVPixelFormat format, int width,
                                          int height, absl::string_view what) {
  AvFramePtr frame = MakeFrame();
  frame->format = format;
  frame->width = width;
  frame->height = height;
  const int rc = av_frame_get_buffer(frame.get(), 0);
  if (rc < 0) return AvError(rc, what);
  return frame;
}

AvPacketPtr MakePacket() {
  AVPacket* p = av_packet_alloc();
  if (p == nullptr) std::abort();
  return AvPacketPtr(p);
}

namespace {

// A display matrix's turn (DisplayTurn), in quarter turns.
DisplayTurn MatrixTurn(const uint8_t* bytes) {
  if (bytes == nullptr) return {};
  int32_t m[9];
  std::memcpy(m, bytes, sizeof(m));
  DisplayTurn turn;
  // av_display_rotation_get reads a mirrored matrix as some rotation (a
  // pure mirror as 180): take the mirror off first, as
  // av_display_matrix_flip puts it on (its first column negated; the
  // translation, m[6], is not read). A hostile file's INT32_MIN has no
  // negative.
  turn.mirrored = int64_t{m[0]} * m[4] - int64_t{m[1]} * m[3] < 0;
  if (turn.mirrored) {
    for (int i : {0, 3}) m[i] = m[i] == INT32_MIN ? INT32_MAX : -m[i];
  }
  double theta = std::round(av_display_rotation_get(m));
  if (std::isnan(theta)) return turn;
  theta -= 360 * std::floor(theta / 360 + 0.9 / 360);
  turn.ccw_degrees = static_cast<int>(std::lround(theta / 90.0) * 90) % 360;
  return turn;
}

}  // namespace

int64_t LateStartMicros(const AVStream* video, const AVStream* audio,
                        const char* container) {
  int64_t start = INT64_MAX;
  for (const AVStream* stream : {video, audio}) {
    if (stream == nullptr || stream->start_time == AV_NOPTS_VALUE) continue;
    start = std::min(start, av_rescale_q(stream->start_time, stream->time_base,
                                         AV_TIME_BASE_Q));
  }
  if (start == INT64_MAX) return 0;
  return start > 0 || ClockWrapsBelowZero(container) ? start : 0;
}

bool ClockWrapsBelowZero(const char* container) {
  return container != nullptr && (av_match_name("mpegts", container) ||
                                  av_match_name("mpeg", container));
}

int64_t LateStartTicks(int64_t micros, AVRational time_base) {
  return av_rescale_q_rnd(micros, AV_TIME_BASE_Q, time_base, AV_ROUND_DOWN);
}

DisplayTurn GetDisplayTurn(const AVStream* stream) {
  size_t size = 0;
  const uint8_t* matrix =
      av_stream_get_side_data(stream, AV_PKT_DATA_DISPLAYMATRIX, &size);
  return MatrixTurn(size >= 9 * sizeof(int32_t) ? matrix : nullptr);
}

DisplayTurn GetDisplayTurn(const AVFrame* frame) {
  const AVFrameSideData* matrix =
      av_frame_get_side_data(frame, AV_FRAME_DATA_DISPLAYMATRIX);
  return MatrixTurn(matrix != nullptr && matrix->size >= 9 * sizeof(int32_t)
                        ? matrix->data
                        : nullptr);
}

int64_t StretchedLastDuration(int64_t duration, int64_t dts, int64_t end,
                              int64_t first_pts, int64_t first_dts) {
  const int64_t delay = first_pts - first_dts;
  return std::max(duration, end - dts - delay);
}

namespace {
thread_local bool g_ffmpeg_quiet = false;
thread_local bool g_probe_decoders_quiet = false;

// A decoder's context, or the image checks a decoder runs (IMGUTILS, which
// logs the pixel limit).
bool IsDecoderContext(const void* avcl) {
  if (avcl == nullptr) return false;
  const AVClass* cls = *static_cast<const AVClass* const*>(avcl);
  if (cls == nullptr || cls->class_name == nullptr) return false;
  return std::strcmp(cls->class_name, "AVCodecContext") == 0 ||
         std::strcmp(cls->class_name, "IMGUTILS") == 0;
}
}  // namespace

void QuietFfmpegLogsOnThisThread() { g_ffmpeg_quiet = true; }

bool FfmpegLogsQuietOnThisThread() { return g_ffmpeg_quiet; }

bool FfmpegLineQuietOnThisThread(const void* avcl) {
  return g_ffmpeg_quiet || (g_probe_decoders_quiet && IsDecoderContext(avcl));
}

ProbeDecodersQuiet::ProbeDecodersQuiet() : was_quiet_(g_probe_decoders_quiet) {
  g_probe_decoders_quiet = true;
}

ProbeDecodersQuiet::~ProbeDecodersQuiet() {
  g_probe_decoders_quiet = was_quiet_;
}

FfmpegCallScope::FfmpegCallScope() : was_quiet_(g_ffmpeg_quiet) {}

FfmpegCallScope::~FfmpegCallScope() { g_ffmpeg_quiet = was_quiet_; }

}  // namespace media
}  // namespace stylizer
