// Writes the outputs of a StylizeVideo job to DIR/<stem>.<label>.<ext> as the
// bytes arrive: each under a temporary name, all renamed into place only when
// the job ended well, so a failed job leaves no file that looks whole (and no
// output directory it created). Bytes that do not begin as a movie in the
// container asked for fail the job (DATA_LOSS) before they are written.
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

// How many first bytes of a movie tell its container: an MP4 box's size and
// type (Matroska's magic is the first 4).
inline constexpr size_t kMovieSignatureBytes = 8;

// Whether `head`, the first kMovieSignatureBytes bytes of a movie, begins as
// a movie in that container does: Matroska (and WebM) with EBML's magic,
// 1A 45 DF A3; MP4 with a box header whose type is one that may come first
// in a file: `ftyp` (stylizer-server's MP4, fragmented or not, begins so),
// `styp`, `moov`, `moof`, `mdat`, `free`, `skip` or `wide` (QuickTime), and
// whose size is 0 (to the end), 1 (64-bit size) or at least 8.
bool BeginsAsMovie(absl::string_view head, bool matroska);

// The failure for output `index` (`label`, if any) served as bytes that are
// not a movie in that container; `head` is its first bytes (all of them
// when they are fewer than kMovieSignatureBytes). DATA_LOSS: "the server
// returned output 0 (klimt) as bytes that are not an MP4 movie (they begin
// 3c 68 74 6d 6c 3e 6e 6f); nothing was written for this input", or "... as
// 3 bytes that are not ...".
absl::Status NotAMovie(uint32_t index, absl::string_view label,
                       absl::string_view head, bool matroska);

class VideoOutputs : public VideoObserver {
 public:
  // Output i goes to OutputPath(dir, stem, labels[i], ext). An `ext` of
  // "mkv" asks for Matroska, any other for MP4: each output's first bytes
  // must begin so.
  VideoOutputs(std::string dir, std::string stem,
               std::vector<std::string> labels, std::string ext);
  ~VideoOutputs() override;

  // The final paths, in output order.
  std::vector<std::string> Paths() const;

  // Renames every output into place. Fails if the job has not delivered every
  // output, one is too short to be a movie, or the summary disagrees with
  // what arrived.
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
  const bool matroska_;
  // The first bytes of each output (at most kMovieSignatureBytes), checked
  // once they are all there.
  std::map<uint32_t, std::string> heads_;
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
// summary that disagrees with what was written. The first
// kMovieSignatureBytes bytes are held until they show a movie in the
// container asked for: bytes that are not one fail the job (DATA_LOSS) with
// none written. What was written stays written whatever happens after.
class StreamVideoOutput : public VideoObserver {
 public:
  // `out` is not owned; `what` names it in messages.
  StreamVideoOutput(std::ostream* out, std::string what, bool matroska = false)
      : out_(out), what_(std::move(what)), matroska_(matroska) {}

  absl::Status OnChunk(uint32_t output_index, absl::string_view data) override;
  absl::Status OnSummary(const stylizer::v1::JobSummary& summary) override;

  uint64_t bytes_written() const { return written_; }

 private:
  absl::Status Write(absl::string_view data);

  std::ostream* const out_;
  const std::string what_;
  const bool matroska_;
  // The first bytes, until they are checked.
  std::string head_;
  bool checked_ = false;
  uint64_t written_ = 0;
};

}  // namespace stylizer::client

#endif  // STYLIZER_CLIENT_VIDEO_OUTPUTS_H_
