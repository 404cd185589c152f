// Stateless stream and codec helpers of MovieReader's opening of an input:
// which demuxers and file openings an upload may use, which stream is the
// video, the refusal of frames too large to
// decode. Internal to MovieReader.
#ifndef STYLIZER_SERVER_MEDIA_MOVIE_STREAMS_H_
#define STYLIZER_SERVER_MEDIA_MOVIE_STREAMS_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
}

namespace stylizer {
namespace media {

// The upload is the only input: a playlist or concat file must never make
// the demuxer open other files or URLs.
int RefuseIoOpen(AVFormatContext* s, AVIOContext** pb, const char* url,
                 int flags, AVDictionary** options);

// Demuxers whose input names other files or URLs (playlists, manifests,
// scripts, image patterns): never for uploads.
bool IsIndirectFormat(const char* name);

// FFmpeg's name of the codec; "unknown" if it has none.
std::string CodecName(AVCodecID id);

// FFmpeg lists cover art (MP3's and M4A's pictures, Matroska's attached
// images) as a video stream of one frame: not a movie.
bool IsVideo(const AVStream* stream);

// av_find_best_stream for video, attached pictures left out: it ranks them
// with the real video streams, and takes one when the video has no decoder.
// The index, AVERROR_STREAM_NOT_FOUND or AVERROR_DECODER_NOT_FOUND.
int FindVideoStream(AVFormatContext* format, const AVCodec** codec);

// The first video stream that is not an attached picture; -1 if none.
int FirstVideoStream(const AVFormatContext* format);

// INVALID_ARGUMENT for frames of width x height over the decoder's `limit`
// of pixels, with what to do: max_side cannot help, frames are decoded at
// their own size before they are scaled. `frames_before`: the frames read
// before them (0 at the start); width and height 0 where the decoder refused
// a new size in the middle of the movie without saying which.
absl::Status DecodeLimitError(int width, int height, int64_t limit,
                              int64_t frames_before);

}  // namespace media
}  // namespace stylizer

#endif  // STYLIZER_SERVER_MEDIA_MOVIE_STREAMS_H_
