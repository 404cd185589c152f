// Stream and codec helpers of MovieReader; see movie_streams.h.
#include "server/media/movie_streams.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"

extern "C" {
#include <libavutil/avstring.h>
}

namespace stylizer {
namespace media {

int RefuseIoOpen(AVFormatContext* s, AVIOContext** pb, const char* url,
                 int flags, AVDictionary** options) {
  return AVERROR(EPERM);
}

bool IsIndirectFormat(const char* name) {
  static const char* const kIndirect[] = {
      "concat", "hls", "applehttp", "dash", "image2",
      "imf",    "sdp", "rtsp",      "rtp",  "ffmetadata"};
  for (const char* bad : kIndirect) {
    if (av_match_name(bad, name)) return true;
  }
  return false;
}

std::string CodecName(AVCodecID id) {
  const char* name = avcodec_get_name(id);
  return name != nullptr ? name : "unknown";
}

bool IsVideo(const AVStream* stream) {
  return stream->codecpar->codec_type == AVMEDIA_TYPE_VIDEO &&
         !(stream->disposition & AV_DISPOSITION_ATTACHED_PIC);
}

int FindVideoStream(AVFormatContext* format, const AVCodec** codec) {
  int best = av_find_best_stream(format, AVMEDIA_TYPE_VIDEO, -1, -1, codec, 0);
  if (best < 0 || IsVideo(format->streams[best])) return best;
  best = AVERROR_STREAM_NOT_FOUND;
  for (unsigned i = 0; i < format->nb_streams; ++i) {
    if (!IsVideo(format->streams[i])) continue;
    best = av_find_best_stream(format, AVMEDIA_TYPE_VIDEO, static_cast<int>(i),
                               -1, codec, 0);
    if (best >= 0) break;
  }
  return best;
}

int FirstVideoStream(const AVFormatContext* format) {
  for (unsigned i = 0; i < format->nb_streams; ++i) {
    if (IsVideo(format->streams[i])) return static_cast<int>(i);
  }
  return -1;
}

absl::Status DecodeLimitError(int width, int height, int64_t limit,
                              int64_t frames_before) {
  // The largest square within the limit: a size people can act on.
  int64_t side = static_cast<int64_t>(std::sqrt(static_cast<double>(limit)));
  while (side * side > limit) --side;
  while ((side + 1) * (side + 1) <= limit) ++side;
  const std::string square = absl::StrCat(side, "x", side);
  const std::string limit_text = absl::StrCat(
      "the limit of ", limit, " pixels (",
      side * side == limit ? square : absl::StrCat(square, " fits"),
      ") that the server decodes");
  std::string what;
  if (width > 0 && height > 0) {
    what = absl::StrCat("the input's frames (", width, "x", height,
                        frames_before > 0
                            ? absl::StrCat(", after ", frames_before, " frames")
                            : "",
                        ") are larger than ", limit_text);
  } else {
    what = absl::StrCat(
        frames_before > 0 ? absl::StrCat("after ", frames_before, " frames, ")
                          : "",
        "the input's frames change to a size the decoder refuses (larger "
        "than ",
        limit_text, ", or not a valid size)");
  }
  return absl::InvalidArgumentError(absl::StrCat(
      what,
      "; max_side cannot help, as frames are decoded at their own size "
      "before they are scaled: scale the movie down before sending it, e.g. "
      "ffmpeg -i in.mp4 -vf scale=",
      side, ":", side,
      ":force_original_aspect_ratio=decrease:force_divisible_by=2 out.mp4"));
}

}  // namespace media
}  // namespace stylizer
