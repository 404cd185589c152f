// Which input sound the server copies into its output movies as it is: the
// rule the muxer follows (movie_writer.cc) and the CLI's `--split` predicts
// (client/movie_split.cc), kept in one place so the two cannot drift apart.
#ifndef STYLIZER_SERVER_MEDIA_AUDIO_COPY_RULE_H_
#define STYLIZER_SERVER_MEDIA_AUDIO_COPY_RULE_H_

#include <cstdint>  // before FFmpeg's headers, which need UINT64_C in C++

extern "C" {
#include <libavcodec/codec_id.h>
}

namespace stylizer {
namespace media {

// Whether sound in `codec` goes into a Matroska (`matroska`) or MP4 output
// without re-encoding. MP4 gets only the codecs common players read from MP4
// (FFmpeg's muxer would also take e.g. Vorbis); Matroska whatever FFmpeg's
// muxer accepts. Everything else is transcoded.
bool CanCopyAudio(bool matroska, AVCodecID codec);

}  // namespace media
}  // namespace stylizer

#endif  // STYLIZER_SERVER_MEDIA_AUDIO_COPY_RULE_H_
