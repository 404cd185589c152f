// What a video job reports to whoever runs it (the StylizeVideo reactor, or a
// test): the probe, progress, the output files' bytes, and the end.
#ifndef STYLIZER_SERVER_MEDIA_VIDEO_SINK_H_
#define STYLIZER_SERVER_MEDIA_VIDEO_SINK_H_

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "server/media/movie_reader.h"

namespace stylizer {
namespace media {

struct VideoProgress {
  int64_t frames_decoded = 0;
  int64_t frames_done = 0;  // stylized and encoded into every output
  int64_t frames_estimate = 0;
  double fps = 0;  // recent rate of frames_done per second
  uint64_t bytes_received = 0;
};

struct OutputSummary {
  int output_index = 0;
  int64_t frames = 0;
  uint64_t bytes = 0;
  double duration_seconds = 0;
  bool has_audio = false;
};

struct VideoSummary {
  std::vector<OutputSummary> outputs;
  double elapsed_seconds = 0;
  // Damaged video packets the decoder skipped (MovieReader::packets_skipped):
  // their frames are missing from every output.
  int64_t packets_skipped = 0;
  // Times the input's timestamps jumped (recordings joined as bytes), each
  // later part moved to follow on (MovieReader::timestamp_jumps).
  int64_t timestamp_jumps = 0;
};

// Receives a job's events. Called on the job's own threads, never under the
// job's locks; OnOutputChunk is called concurrently for different outputs.
class VideoSink {
 public:
  virtual ~VideoSink() = default;

  // Once, when the input has been probed and accepted. `output_width` and
  // `output_height` are the stylized frames' size.
  virtual void OnAccepted(const MovieInfo& info, int output_width,
                          int output_height) = 0;

  // Now and then (at most every Options::progress_interval).
  virtual void OnProgress(const VideoProgress& progress) = 0;

  // The next bytes of output `output_index`. May block to pace the job (a
  // slow reader pauses encoding, then decoding, then the upload). A non-OK
  // return (e.g. CANCELLED) ends the job with that status.
  virtual absl::Status OnOutputChunk(int output_index,
                                     absl::string_view bytes) = 0;

  // As soon as the job fails (before OnFinished, from any job thread): blocked
  // and later OnOutputChunk calls should return promptly.
  virtual void OnFailing(const absl::Status& status) {}

  // Exactly once, last: the summary, or why the job failed.
  virtual void OnFinished(absl::StatusOr<VideoSummary> result) = 0;
};

}  // namespace media
}  // namespace stylizer

#endif  // STYLIZER_SERVER_MEDIA_VIDEO_SINK_H_
