// Which input sound the server copies into its output movies as it is: the
// rule the writer follows (movie_writer.cc) and the CLI's `--split` predicts
// (client/movie_split.cc), and the MP4 muxer flags both write with, kept in
// one place so the two cannot drift apart.
#ifndef STYLIZER_SERVER_MEDIA_AUDIO_COPY_RULE_H_
#define STYLIZER_SERVER_MEDIA_AUDIO_COPY_RULE_H_

#include <cstdint>  // before FFmpeg's headers, which need UINT64_C in C++

extern "C" {
#include <libavcodec/codec_id.h>
#include <libavcodec/codec_par.h>
}

namespace stylizer {
namespace media {

// The `movflags` of the server's fragmented MP4 outputs, which the CLI's
// `--split` join writes too, and with which MuxerTakesAudio asks the muxer.
// delay_moov: the (empty) moov waits for the first fragment, so that its
// edit lists can say where each track starts.
inline constexpr char kServerMp4Flags[] =
    "frag_keyframe+empty_moov+delay_moov+default_base_moof";

// The server's MP4 `frag_duration`: a fragment is cut once a track holds
// 4 s, twice the video's keyframe interval, so that it only ever applies
// where there is no video (sound after the last frame).
inline constexpr char kMaxFragmentMicroseconds[] = "4000000";

// Whether sound in `codec` goes into a Matroska (`matroska`) or MP4 output
// without re-encoding. MP4 gets only the codecs common players read from MP4
// (FFmpeg's muxer would also take e.g. Vorbis); Matroska whatever FFmpeg's
// muxer accepts. Everything else is transcoded.
bool CanCopyAudio(bool matroska, AVCodecID codec);

// Whether the muxer also takes the stream's parameters as they are (FFmpeg's
// MP4 muxer refuses MP3 under 16 kHz, for one): a header with just this
// stream, written to memory with the server's own MP4 flags, must succeed.
// A refusal is logged by FFmpeg's muxer (at AV_LOG_ERROR).
bool MuxerTakesAudio(bool matroska, const AVCodecParameters& parameters);

// What the server does with this sound: copies it when both hold (its writer
// tries the copy and re-encodes when the muxer refuses it).
bool CopiesAudio(bool matroska, const AVCodecParameters& parameters);

}  // namespace media
}  // namespace stylizer

#endif  // STYLIZER_SERVER_MEDIA_AUDIO_COPY_RULE_H_
