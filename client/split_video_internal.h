// The pieces of a split video job (split_video.cc): the segments' progress
// summed into one display, and the observer of one segment's call
// (split_video_progress.cc). Internal to the CLI.
#ifndef STYLIZER_CLIENT_SPLIT_VIDEO_INTERNAL_H_
#define STYLIZER_CLIENT_SPLIT_VIDEO_INTERNAL_H_

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "client/progress.h"
#include "client/stylizer_client.h"
#include "client/video_outputs.h"

namespace stylizer::client {

// Sums the segments' progress into the one display.
class SplitProgress {
 public:
  // `sizes`: each segment's upload bytes.
  SplitProgress(ProgressReporter* progress, std::vector<uint64_t> sizes,
                int outputs);

  void Upload(size_t k, uint64_t sent);
  void Accepted(size_t k, uint64_t estimate);
  void Frames(size_t k, uint64_t done, uint64_t estimate, double fps);
  // Segment k's summary: its rate no longer counts in the current one.
  void Finished(size_t k, uint64_t frames);
  void Bytes(uint64_t bytes);
  // A failed attempt: its segment starts over.
  void Reset(size_t k);

 private:
  struct Segment {
    uint64_t sent = 0, done = 0, estimate = 0;
    double fps = 0;
    bool finished = false;
  };
  // The rate is the sum of the running segments' rates; once every segment
  // has finished, the whole job's (frames over the time since the start),
  // so the last line does not read 0 fps.
  void ReportFramesLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The segments' estimates; those not accepted yet (waiting for a call
  // slot) at the frames per upload byte of those that were. Their sum used
  // to leave them out: with 4 of 16 segments at a time, the bar neared
  // 100 % a quarter of the way through.
  uint64_t EstimateLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  ProgressReporter* const progress_;
  const int outputs_;
  const std::vector<uint64_t> sizes_;
  uint64_t upload_total_ = 0;
  const absl::Time start_ = absl::Now();
  absl::Mutex mu_;
  std::vector<Segment> state_ ABSL_GUARDED_BY(mu_);
};

// One attempt of one segment: its outputs to files, its progress to the sum.
class SegmentObserver : public VideoObserver {
 public:
  // `say` prints a note line; `input`, unless empty, is named in the
  // damaged-packets warning before the segment.
  // check_model: given the model archive digest the replica names in its
  // JobAccepted; an error ends the call with it.
  SegmentObserver(
      VideoOutputs* files, SplitProgress* progress, size_t k, std::string input,
      std::function<void(const std::string&)> say,
      std::function<absl::Status(const std::string&)> check_model = {})
      : files_(files),
        progress_(progress),
        k_(k),
        input_(std::move(input)),
        say_(std::move(say)),
        check_model_(std::move(check_model)) {}

  void OnUploadProgress(uint64_t sent, uint64_t total) override;
  void OnPeer(const std::string& peer) override { peer_ = peer; }
  absl::Status OnAccepted(const stylizer::v1::JobAccepted& a) override;
  void OnProgress(const stylizer::v1::Progress& p) override;
  absl::Status OnChunk(uint32_t index, absl::string_view data) override;
  absl::Status OnSummary(const stylizer::v1::JobSummary& s) override;
  // A busy or unavailable replica (client retries, retry.h).
  void OnRetry(const absl::Status& why, absl::Duration wait,
               int retry) override;

  const std::string& peer() const { return peer_; }
  uint64_t frames() const { return frames_; }

 private:
  VideoOutputs* const files_;
  SplitProgress* const progress_;
  const size_t k_;
  const std::string input_;
  const std::function<void(const std::string&)> say_;
  const std::function<absl::Status(const std::string&)> check_model_;
  std::string peer_;
  uint64_t frames_ = 0;
};

}  // namespace stylizer::client

#endif  // STYLIZER_CLIENT_SPLIT_VIDEO_INTERNAL_H_
