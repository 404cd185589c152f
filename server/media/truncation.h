// How long a movie says it is, against what could be read of it: the
// truncation rule of the server's movie reader, and of the CLI's --split
// probe, which sends a movie that fails it whole for the server to judge
// (its segments, each a complete movie, would hide the cut).
#ifndef STYLIZER_SERVER_MEDIA_TRUNCATION_H_
#define STYLIZER_SERVER_MEDIA_TRUNCATION_H_

#include <cstdint>

extern "C" {
#include <libavformat/avformat.h>
}

namespace stylizer {
namespace media {

// The video frames the input's index lists to be shown; 0 if unknown.
// MP4 and MOV count every sample in nb_frames, also those an edit list
// hides: a lossless trim (or QuickTime's) keeps the samples from the
// keyframe before the cut on. libavformat's index flags those to be
// discarded after decoding (and leaves out those past the next keyframe
// after the edit), so its other entries are the frames that show.
//
// AVI's header counts the empty chunks a muxer writes for the gaps of
// variable-frame-rate video (FFmpeg's, capture tools'), which the demuxer
// never returns; its index lists only chunks with data, each at its chunk
// number. Such movies were refused as truncated after the whole job. Where
// the index ends before the header's last frame (a file cut off, whose
// index was rebuilt from what is left), the header's count stands.
//
// An APNG declares its frames in its acTL chunk (FFmpeg gives it no
// nb_frames): one cut off became a shorter movie, and OK.
// A GIF declares no count: one cut off still reads as a shorter movie.
int64_t IndexedFrames(const AVFormatContext* format, AVStream* video);

// Where the container says its longest stream ends, in seconds on its
// timestamps' scale: FFmpeg counts its duration from the first timestamp,
// except Matroska's (the segment's) and MP4's or MOV's (the movie header's,
// an empty edit at the start included), from 0. 0 when it says nothing.
// (An MP4 cut with -ss 2 -copyts, which starts at 2 s, declares 5 s for
// streams that reach 5 s; its end was taken as 7 s, and the CLI's --split
// called it cut off.)
double ContainerEndSeconds(const AVFormatContext* format);

// Whether `read` frames fall short of the `indexed` ones (IndexedFrames, 0:
// unknown) by more than 2 % and more than 2 frames.
bool TooFewFrames(int64_t indexed, int64_t read);

// Whether a movie that declares `declared_seconds` is cut off, with
// `missing_seconds` of it not reached: by more than 1 s and 5 %.
bool TooFewSeconds(double declared_seconds, double missing_seconds);

}  // namespace media
}  // namespace stylizer

#endif  // STYLIZER_SERVER_MEDIA_TRUNCATION_H_
