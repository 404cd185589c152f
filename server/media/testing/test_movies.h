// Test helpers for everything that handles movies: make tiny movies with the
// ffmpeg command-line tool at test time, and inspect results with ffprobe
// (frame count by decoding, size, audio, rotation, duration from the packet
// timestamps).
#ifndef STYLIZER_SERVER_MEDIA_TESTING_TEST_MOVIES_H_
#define STYLIZER_SERVER_MEDIA_TESTING_TEST_MOVIES_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "server/media/av_util.h"

namespace stylizer {
namespace media {
namespace testing {

// Runs a shell command; returns its stdout, or an error with its stderr
// when it exits non-zero.
absl::StatusOr<std::string> RunCommand(const std::string& command);

// A fresh directory under $TEST_TMPDIR or /tmp for one test's files,
// removed with everything in it when the process exits normally.
std::string MakeTempDir(const std::string& prefix);

// Creates `path` by running `ffmpeg -y <args> <path>` (quiet).
absl::Status MakeMovie(const std::string& args, const std::string& path);

// Whole-file helpers.
absl::StatusOr<std::string> ReadFile(const std::string& path);
absl::Status WriteFile(const std::string& path, const std::string& data);

// `jpeg` with an EXIF segment holding only `orientation` (1-8) right after
// its start-of-image marker, as a camera writes it (little-endian TIFF).
std::string WithExifOrientation(std::string jpeg, int orientation);

// `mp4` with its first track's display matrix (the `tkhd` box's, in
// FFmpeg's layout and units, av_display_rotation_set's) set to `matrix`:
// ffmpeg 5.1 cannot write a mirrored one. Unchanged without a `tkhd`.
std::string WithDisplayMatrix(std::string mp4, const int32_t matrix[9]);

// One stream of a bare format context, for tests of code that reads an
// AVStream's parameters and side data; freed with this. stream() is null
// only if FFmpeg could not allocate it.
class BareStream {
 public:
  BareStream();
  AVStream* stream() const { return stream_; }

 private:
  AvOutputPtr format_;
  AVStream* stream_ = nullptr;
};

// What ffprobe says about a movie.
struct ProbedMovie {
  int width = 0;
  int height = 0;
  std::string video_codec;
  int64_t frames = 0;         // counted by decoding
  double duration = 0;        // first video pts to last pts + duration
  double frame_duration = 0;  // mean duration of one frame
  bool has_audio = false;
  std::string audio_codec;
  int rotation = 0;  // display matrix rotation as ffprobe reports it
  bool decodes_cleanly = false;  // `ffmpeg -v error -f null` printed nothing
};

// Probes `path` with ffprobe and decodes it once with ffmpeg.
absl::StatusOr<ProbedMovie> ProbeMovie(const std::string& path);

}  // namespace testing
}  // namespace media
}  // namespace stylizer

#endif  // STYLIZER_SERVER_MEDIA_TESTING_TEST_MOVIES_H_
