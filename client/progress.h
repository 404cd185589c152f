// Progress display of a video job: on a terminal one live line with bars
// (upload, frames done of the estimate, fps, ETA), redrawn in place; otherwise
// plain lines at a steady interval, fit for logs. Thread-safe: the upload
// thread and the reading thread both report into it.
#ifndef STYLIZER_CLIENT_PROGRESS_H_
#define STYLIZER_CLIENT_PROGRESS_H_

#include <cstdint>
#include <functional>
#include <ostream>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace stylizer::client {

// Everything the display knows about a job.
struct ProgressState {
  uint64_t upload_sent = 0;
  uint64_t upload_total = 0;  // 0 = unknown
  bool accepted = false;
  uint64_t frames_done = 0;
  uint64_t frames_estimate = 0;  // 0 = unknown
  double fps = 0;
  uint64_t output_bytes = 0;
  int outputs = 0;
};

// "[######----]" with `width` cells inside the brackets; fraction clamped to [0,1].
std::string RenderBar(double fraction, int width);
// "812 B", "1.2 KB", "3.4 MB", "1.1 GB" (powers of 1000).
std::string FormatBytes(uint64_t bytes);
// "0:07", "12:03", "1:02:03"; "?" for negative or non-finite.
std::string FormatEta(double seconds);
// "0.04", "7.25", "31.0": two decimals below 10 fps, else one.
std::string FormatFps(double fps);
// Seconds left from the state's fps and estimate; -1 when unknown.
double EtaSeconds(const ProgressState& state);
// The live terminal line (no carriage return or newline), narrower than
// `columns` when that is positive (bars shrink, then go).
std::string RenderTtyLine(const ProgressState& state, int columns = 0);

// The width of the terminal on `fd`, or 80 when it cannot be told.
int TerminalColumns(int fd);
// The plain periodic line (no newline).
std::string RenderPlainLine(const ProgressState& state, absl::Duration elapsed);

class ProgressReporter {
 public:
  struct Options {
    // Redraw one line in place (a terminal) instead of printing plain lines.
    // Default false.
    bool tty = false;
    // Shortest time between plain lines. Default 2 s.
    absl::Duration plain_interval = absl::Seconds(2);
    // Shortest time between terminal redraws. Default 100 ms.
    absl::Duration tty_interval = absl::Milliseconds(100);
    // The terminal's width: the live line stays narrower. 0: no limit.
    // Default 0.
    int columns = 0;
    // Where to draw. Default std::cerr.
    std::ostream* out = nullptr;
    // The clock. Default absl::Now.
    std::function<absl::Time()> now;
  };

  explicit ProgressReporter(Options options);

  // Bytes of the upload sent so far.
  void OnUpload(uint64_t sent, uint64_t total) ABSL_LOCKS_EXCLUDED(mu_);
  // The job was accepted; `frames_estimate` from the probe, `outputs` files.
  void OnAccepted(uint64_t frames_estimate, int outputs)
      ABSL_LOCKS_EXCLUDED(mu_);
  // The server's progress report.
  void OnFrames(uint64_t done, uint64_t estimate, double fps)
      ABSL_LOCKS_EXCLUDED(mu_);
  // More output bytes were written.
  void OnOutputBytes(uint64_t bytes) ABSL_LOCKS_EXCLUDED(mu_);
  // Prints a line of its own (e.g. what the server accepted) without
  // breaking the live line on a terminal.
  void Note(const std::string& line) ABSL_LOCKS_EXCLUDED(mu_);
  // Draws the final state when `success` (and ends the terminal line); after
  // a failure only ends the line, so the error line follows cleanly.
  void Finish(bool success = true) ABSL_LOCKS_EXCLUDED(mu_);

  // A copy of the current state.
  ProgressState state() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  void MaybeDraw(bool force) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const Options options_;
  std::ostream* const out_;
  const absl::Time start_;
  mutable absl::Mutex mu_;
  ProgressState state_ ABSL_GUARDED_BY(mu_);
  absl::Time last_draw_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  size_t last_width_ ABSL_GUARDED_BY(mu_) = 0;
  bool drawn_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
};

// Prints a note line of a job (a retry, a warning): through `progress`'s
// display when there is one (Note), else on `notes` as a line of its own,
// flushed (a retry's wait of up to 30 s must not look like a hang); nowhere
// when both are null.
void SayNote(ProgressReporter* progress, std::ostream* notes,
             const std::string& line);

}  // namespace stylizer::client

#endif  // STYLIZER_CLIENT_PROGRESS_H_
