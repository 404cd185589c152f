// Small RAII and error helpers over FFmpeg's C API, shared by the media code:
// unique_ptr types with the right free functions for every FFmpeg object we
// own, and conversion of FFmpeg's negative error codes into absl::Status with
// FFmpeg's own text.
#ifndef STYLIZER_SERVER_MEDIA_AV_UTIL_H_
#define STYLIZER_SERVER_MEDIA_AV_UTIL_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/frame.h>
#include <libswscale/swscale.h>
}

namespace stylizer {
namespace media {

// FFmpeg's text for an AVERROR code, e.g. "Invalid data found when processing
// input".
std::string AvErrorText(int error);

// A Status for a failed FFmpeg call: "<what>: <ffmpeg text>". `code` is the
// status code the caller wants (INVALID_ARGUMENT for bad input, INTERNAL for
// our own mistakes); AVERROR(ENOMEM) always becomes RESOURCE_EXHAUSTED.
absl::Status AvError(int error, absl::string_view what,
                     absl::StatusCode code = absl::StatusCode::kInternal);

struct AvFrameDeleter {
  void operator()(AVFrame* f) const { av_frame_free(&f); }
};
struct AvPacketDeleter {
  void operator()(AVPacket* p) const { av_packet_free(&p); }
};
struct AvCodecContextDeleter {
  void operator()(AVCodecContext* c) const { avcodec_free_context(&c); }
};
struct SwsContextDeleter {
  void operator()(SwsContext* c) const { sws_freeContext(c); }
};
// Frees an AVIOContext we allocated with avio_alloc_context, buffer included.
struct AvioContextDeleter {
  void operator()(AVIOContext* io) const {
    if (io != nullptr) av_freep(&io->buffer);
    avio_context_free(&io);
  }
};
// An input opened with avformat_open_input.
struct AvInputFormatContextDeleter {
  void operator()(AVFormatContext* f) const { avformat_close_input(&f); }
};
// An output allocated with avformat_alloc_output_context2 (custom AVIO, which
// its owner frees separately).
struct AvOutputFormatContextDeleter {
  void operator()(AVFormatContext* f) const { avformat_free_context(f); }
};

using AvFramePtr = std::unique_ptr<AVFrame, AvFrameDeleter>;
using AvPacketPtr = std::unique_ptr<AVPacket, AvPacketDeleter>;
using AvCodecContextPtr =
    std::unique_ptr<AVCodecContext, AvCodecContextDeleter>;
using SwsContextPtr = std::unique_ptr<SwsContext, SwsContextDeleter>;
using AvioContextPtr = std::unique_ptr<AVIOContext, AvioContextDeleter>;
using AvInputPtr =
    std::unique_ptr<AVFormatContext, AvInputFormatContextDeleter>;
using AvOutputPtr =
    std::unique_ptr<AVFormatContext, AvOutputFormatContextDeleter>;

// How players show a stream's frames (its display matrix): turned
// `ccw_degrees` counter-clockwise, rounded to 0, 90, 180 or 270, then, where
// `mirrored` (the matrix's determinant is negative), mirrored left-right.
// That is the order of ffmpeg's -display_rotation and -display_hflip, and of
// FFmpeg's matrices for the mirrored EXIF orientations. Without a mirror,
// ccw_degrees is ffprobe's `rotation`; with one, ffprobe's angle is another
// (a pure mirror reads as 180).
struct DisplayTurn {
  int ccw_degrees = 0;
  bool mirrored = false;
};
// None ({0, false}) for a stream without a display matrix.
DisplayTurn GetDisplayTurn(const AVStream* stream);
// The same for a decoded frame's display matrix (FFmpeg's MJPEG decoder
// gives a JPEG's EXIF orientation to the frame only).
DisplayTurn GetDisplayTurn(const AVFrame* frame);

// How long after time 0 a movie of these streams starts, in microseconds:
// the earlier of their start times, or 0 when that is at or before 0 or
// unknown. `audio` may be null (no sound in the output). An MPEG-TS starts
// at 1.4 s, a capture at its clock's time; outputs are moved back by this,
// as ffmpeg moves its outputs, so that an MP4 does not open with an empty
// edit of that length (nothing to show in players that honour edit lists).
// Times before 0 are an edit list's hidden frames or sound priming, and
// stay, except in an MPEG-TS or MPEG-PS (`container`, the demuxer's name):
// there they are the frames before its 33-bit clock wrapped, and the start
// is negative, moving the outputs forward (an MP4's edit list hid them).
int64_t LateStartMicros(const AVStream* video, const AVStream* audio,
                        const char* container);
// Whether `container` (a demuxer's name, may be null) times its streams on
// MPEG's 33-bit 90 kHz clock: MPEG-TS and MPEG-PS. It wraps every 26.5
// hours, and FFmpeg gives the times before a wrap values below 0, the only
// way such a stream has any (it hides no frames).
bool ClockWrapsBelowZero(const char* container);
// LateStartMicros's `micros` in ticks of `time_base`, rounded down (a
// timestamp moved back by it is never negative for rounding): the one rule
// the server's writer and the CLI's --split join both move streams by.
int64_t LateStartTicks(int64_t micros, AVRational time_base);

// What a demuxer logs once its upload was abandoned (a client's cancel, a
// full disk): "moov atom not found", "error reading header". Such lines are
// no news of the input, carry no job, and read like a broken file. A reader
// calls QuietFfmpegLogsOnThisThread() when its input is abandoned; the
// server's FFmpeg log callback drops this thread's lines while
// FfmpegLogsQuietOnThisThread(), until the innermost FfmpegCallScope on the
// thread ends (one is put around every call into FFmpeg that reads).
void QuietFfmpegLogsOnThisThread();
bool FfmpegLogsQuietOnThisThread();
// Whether the server's FFmpeg log callback drops a line from `avcl` (the
// context av_log was given) on this thread: every line after
// QuietFfmpegLogsOnThisThread(), and a decoder's lines inside a
// ProbeDecodersQuiet scope.
bool FfmpegLineQuietOnThisThread(const void* avcl);
// Around avformat_find_stream_info: the probe's decoders decode the first
// packets that the reader's own decoder decodes again (and logs), and an
// H.264 or HEVC frame over probe_max_pixels fails there on purpose ("Picture
// size 8192x8192 exceeds specified max pixel count"), which read like a
// refusal in the log of a job that went on well.
class ProbeDecodersQuiet {
 public:
  ProbeDecodersQuiet();
  ~ProbeDecodersQuiet();
  ProbeDecodersQuiet(const ProbeDecodersQuiet&) = delete;
  ProbeDecodersQuiet& operator=(const ProbeDecodersQuiet&) = delete;

 private:
  bool was_quiet_;
};
class FfmpegCallScope {
 public:
  FfmpegCallScope();
  ~FfmpegCallScope();
  FfmpegCallScope(const FfmpegCallScope&) = delete;
  FfmpegCallScope& operator=(const FfmpegCallScope&) = delete;

 private:
  bool was_quiet_;
};

// The duration the last packet in decode order of an MP4 video track needs:
// the track lasts from its first decode time to that packet's plus its
// duration, and its edit list starts the encoder's delay (`first_pts` less
// `first_dts`) later; with B-frames that packet is not the last frame shown.
// At least `duration`, so that the track ends with `end`, the end of the
// last frame shown. All in one time base. The server's writer and the CLI's
// --split join stretch their last packet alike.
int64_t StretchedLastDuration(int64_t duration, int64_t dts, int64_t end,
                              int64_t first_pts, int64_t first_dts);

// Allocating constructors; they abort only if the process is out of memory.
AvFramePtr MakeFrame();
AvPacketPtr MakePacket();

// A picture frame of `format` and size with its buffers (av_frame_get_buffer:
// aligned rows, padding after each); AvError naming `what` when the buffers
// cannot be had.
absl::StatusOr<AvFramePtr> MakeVideoFrame(AVPixelFormat format, int width,
                                          int height, absl::string_view what);

}  // namespace media
}  // namespace stylizer

#endif  // STYLIZER_SERVER_MEDIA_AV_UTIL_H_
