// Cutting a movie into segments at keyframes and joining stylized segments
// back into one movie, both in process with libavformat and stream copy (no
// re-encode), for `stylizer video --split`. A segment keeps the source's
// presentation timestamps; the server moves each output back to start at 0
// (media::LateStartMicros), and the join puts every segment back at its
// source times, then moves the whole movie back as the server moves an
// unsplit job's output, so the joined movie has the same frames at the same
// times as that output. The sound is not sent with the segments; the join
// copies it once from the source.
#ifndef STYLIZER_CLIENT_MOVIE_SPLIT_H_
#define STYLIZER_CLIENT_MOVIE_SPLIT_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace stylizer::client {

// What splitting needs to know about a source movie.
struct SplitProbe {
  // Presentation times (seconds) of the video keyframes where a segment can
  // start, in file order: the first keyframe, then each keyframe that no
  // later frame in decode order shows before (a closed GOP's).
  std::vector<double> keyframes;
  // Keyframes after the first left out because they open their GOP: frames
  // after them in decode order show before them and need the GOP before.
  int open_keyframes = 0;
  // Length of the video in seconds (0 if unknown).
  double duration_seconds = 0;
  // Why the movie cannot be split at all ("" = it can), e.g. a codec that no
  // segment container carries exactly.
  std::string unsplittable;
  // Why the sound cannot be copied into `container` outputs as the server
  // would ("" = it can, or there is no sound); per output container.
  std::string audio_not_copyable_mp4;
  std::string audio_not_copyable_mkv;
  bool has_audio = false;
};

// Reads the source's packets (not decoding them) to list its keyframes.
absl::StatusOr<SplitProbe> ProbeForSplit(const std::string& path);

// Start times of the segments after the first (each one a keyframe time),
// for at most `segments` segments of at least `min_seconds` each: the cut
// nearest each even share of the duration that keeps every segment at least
// `min_seconds` long and one keyframe apart. Fewer cuts (maybe none) when the
// keyframes or the length do not allow more.
std::vector<double> ChooseCuts(const std::vector<double>& keyframes,
                               double duration_seconds, int segments,
                               double min_seconds);

// One cut of the source.
struct Segment {
  std::string path;
  // Its earliest presentation timestamp of a frame it shows (not one an
  // edit list hides), in time base num/den.
  int64_t first_pts = 0;
  int tb_num = 0;
  int tb_den = 1;
};

// Writes the video of `source` (no sound, no other streams) as
// cuts.size() + 1 files "<dir>/segment-<i>.<ext>" by stream copy, segment i
// starting at the keyframe at cuts[i - 1]. Once `stopped` (if given) returns
// true, asked between packets, it ends with CANCELLED ("interrupted") and
// leaves no segment behind.
absl::StatusOr<std::vector<Segment>> WriteSegments(
    const std::string& source, const std::vector<double>& cuts,
    const std::string& dir, const std::function<bool()>& stopped = {});

// Joins stylized segments (stylized[i] is the server's movie of segments[i])
// into `out_path` by stream copy, in the server's container layout
// (`matroska`: Matroska, else fragmented MP4), adding the source's best audio
// stream, packet for packet, when `with_audio`, and the source's tags that an
// unsplit output keeps (media::KeepsTag). A fragmented MP4 whose first
// decode time would be negative (B-frames) is stored shifted later by that
// much, all streams alike; each segment's shift is taken back out (its first
// frame is at the segment's first_pts) so that the join is shifted once, as
// the unsplit movie is. Writes through a temporary name; on failure nothing
// is left at `out_path`. Once `stopped` (if given) returns true, asked
// between packets, it ends with CANCELLED ("interrupted").
absl::Status JoinSegments(const std::vector<Segment>& segments,
                          const std::vector<std::string>& stylized,
                          const std::string& source, bool with_audio,
                          bool matroska, const std::string& out_path,
                          const std::function<bool()>& stopped = {});

}  // namespace stylizer::client

#endif  // STYLIZER_CLIENT_MOVIE_SPLIT_H_
