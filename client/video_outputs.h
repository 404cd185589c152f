// Writes the outputs of a StylizeVideo job to DIR/<stem>.<label>.<ext> as the
// bytes arrive: each under a temporary name, all renamed into place only when
// the job ended well, so a failed job leaves no file that looks whole (and no
// output directory it created).
#ifndef STYLIZER_CLIENT_VIDEO_OUTPUTS_H_
#define STYLIZER_CLIENT_VIDEO_OUTPUTS_H_

#include <map>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "client/output_files.h"
#include "client/stylizer_client.h"

namespace stylizer::client {

// What a summary's skipped_packets means for the outputs, as a line for the
// job's notes (beside its retry lines): "stylizer: warning: ", then `about`
// and ": " when it is not empty (the input, in a command of several; the
// segment, in a split job), then the count. "" when the movie decoded
// cleanly.
std::string SkippedPacketsWarning(const stylizer::v1::JobSummary& summary,
                                  absl::string_view about = "");

class VideoOutputs : public VideoObserver {
 public:
  // Output i goes to OutputPath(dir, stem, labels[i], ext).
  VideoOutputs(std::string dir, std::string stem,
               std::vector<std::string> labels, std::string ext);
  ~VideoOutputs() override;

  // The final paths, in output order.
  std::vector<std::string> Paths() const;

  // Renames every output into place. Fails if the job has not delivered every
  // output or its summary disagrees with what arrived.
  absl::Status Commit();

  // Deletes the temporary files (and the directories this made, if they are
  // empty). Also done by the destructor when Commit() was not reached.
  void Discard();

  absl::Status OnAccepted(const stylizer::v1::JobAccepted& accepted) override;
  absl::Status OnChunk(uint32_t output_index, absl::string_view data) override;
  absl::Status OnSummary(const stylizer::v1::JobSummary& summary) override;

  // The accepted message (empty before it arrives).
  const stylizer::v1::JobAccepted& accepted() const { return accepted_; }
  // The summary (empty before it arrives).
  const stylizer::v1::JobSummary& summary() const { return summary_; }

 private:
  const std::string dir_;
  const std::string stem_;
  const std::vector<std::string> labels_;
  const std::string ext_;
  // The highest directory made for the outputs ("" if none).
  std::string made_dir_;
  bool committed_ = false;
  std::map<uint32_t, std::unique_ptr<AtomicFile>> files_;
  stylizer::v1::JobAccepted accepted_;
  stylizer::v1::JobSummary summary_;
  bool have_summary_ = false;
};

// Writes the one output of a job to a stream (standard output, for
// `--out=-`) as its bytes arrive; a second output is an error, and so is a
// summary that disagrees with what was written. What was written stays
// written whatever happens after.
class StreamVideoOutput : public VideoObserver {
 public:
  // `out` is not owned; `what` names it in messages.
  StreamVideoOutput(std::ostream* out, std::string what)
      : out_(out), what_(std::move(what)) {}

  absl::Status OnChunk(uint32_t output_index, absl::string_view data) override;
  absl::Status OnSummary(const stylizer::v1::JobSummary& summary) override;

  uint64_t bytes_written() const { return written_; }

 private:
  std::ostream* const out_;
  const std::string what_;
  uint64_t written_ = 0;
};

}  // namespace stylizer::client

#endif  // STYLIZER_CLIENT_VIDEO_OUTPUTS_H_
