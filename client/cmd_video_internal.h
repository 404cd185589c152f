// The pieces of `stylizer video` (cmd_video.cc): one movie's job, from its
// input to its outputs and contact sheet (cmd_video_movie.cc), and the
// observer that shows a job's messages (cmd_video_observer.cc). Internal to
// the CLI.
#ifndef STYLIZER_CLIENT_CMD_VIDEO_INTERNAL_H_
#define STYLIZER_CLIENT_CMD_VIDEO_INTERNAL_H_

#include <cstdint>
#include <memory>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "client/byte_source.h"
#include "client/commands.h"
#include "client/progress.h"
#include "client/stylizer_client.h"

namespace stylizer::client {

// Forwards a job's messages to the outputs and the progress display.
class CliVideoObserver : public VideoObserver {
 public:
  // `notes` gets the retry lines (a wait of up to 30 s must not look like a
  // hang) and the damaged-packets warning when there is no progress display
  // (--progress=none). `input`, unless empty, is named in that warning.
  CliVideoObserver(VideoObserver* files, ProgressReporter* progress,
                   int outputs, int max_retries, std::ostream* notes,
                   std::string input = "")
      : files_(files),
        progress_(progress),
        outputs_(outputs),
        max_retries_(max_retries),
        notes_(notes),
        input_(std::move(input)) {}

  void OnUploadProgress(uint64_t sent, uint64_t total) override;
  absl::Status OnAccepted(const stylizer::v1::JobAccepted& a) override;
  void OnProgress(const stylizer::v1::Progress& p) override;
  void OnRetry(const absl::Status& why, absl::Duration wait,
               int retry) override;
  absl::Status OnChunk(uint32_t index, absl::string_view data) override;
  absl::Status OnSummary(const stylizer::v1::JobSummary& s) override;

 private:
  VideoObserver* files_;
  ProgressReporter* progress_;
  int outputs_;
  int max_retries_;
  std::ostream* notes_;
  std::string input_;
};

// What every movie of one command shares: the checked flags.
struct VideoSettings {
  std::string out;  // a directory, or "-"
  bool to_stdout = false;
  std::string ext;
  bool matroska = false;
  std::string sheet;
  std::string split;
  int split_segments = 0;  // 0: auto
  std::string progress_mode;
  // Several inputs: a movie's damaged-packets warning names it.
  bool name_inputs = false;
};

// The upload source of `input`: standard input for "-", else the file.
absl::StatusOr<std::unique_ptr<ByteSource>> OpenVideoInput(
    const std::string& input, const CommandIo& io);

// One movie: `input` (`source`, or opened here when null) into its outputs,
// with the job message `job` (styles and flags set) and the style `labels`.
// Returns the paths written (none for standard output).
absl::StatusOr<std::vector<std::string>> StylizeMovie(
    StylizerClient& client, const VideoSettings& settings,
    stylizer::v1::VideoJob job, const std::vector<std::string>& labels,
    const std::string& input, std::unique_ptr<ByteSource> source,
    const CommandIo& io);

}  // namespace stylizer::client

#endif  // STYLIZER_CLIENT_CMD_VIDEO_INTERNAL_H_
