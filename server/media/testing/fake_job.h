// A stand-in for the job queue in tests of the video pipeline: each job runs
// its frames on a thread of its own and "stylizes" output k of a frame by
// inverting its pixels (and, for k > 0, dividing them by k + 1, so that
// tests can tell the outputs apart after lossy encoding). Results come back in
// order, as the real queue's do. It can fail a chosen frame and counts open
// jobs, so tests can check that a job is freed.
#ifndef STYLIZER_SERVER_MEDIA_TESTING_FAKE_JOB_H_
#define STYLIZER_SERVER_MEDIA_TESTING_FAKE_JOB_H_

#include <atomic>
#include <cstdint>
#include <memory>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/batching/job_queue.h"

namespace stylizer {
namespace media {
namespace testing {

class FakeJobQueue {
 public:
  struct Options {
    // Frames in flight per job when JobOptions asks for the default.
    int default_max_frames_in_flight = 8;
    // Time each frame takes.
    absl::Duration delay = absl::ZeroDuration();
    // Fails the frame with this sequence number with fail_status (-1: none).
    int64_t fail_sequence = -1;
    absl::Status fail_status = absl::ResourceExhaustedError("fake failure");
    // Holds every result back until the job is destroyed, then delivers the
    // first one from inside the destructor's wait, as the real queue may (its
    // destructor waits for a running on_result).
    bool deliver_while_closing = false;
  };

  FakeJobQueue() : FakeJobQueue(Options()) {}
  explicit FakeJobQueue(const Options& options) : options_(options) {}

  // Opens a job (never fails).
  absl::StatusOr<std::unique_ptr<Job>> OpenJob(JobOptions options);

  // Jobs opened and not yet destroyed.
  int open_jobs() const { return open_jobs_.load(); }
  // Frames submitted over all jobs.
  int64_t frames_submitted() const { return frames_submitted_.load(); }

 private:
  friend class FakeJob;
  Options options_;
  std::atomic<int> open_jobs_{0};
  std::atomic<int64_t> frames_submitted_{0};
};

}  // namespace testing
}  // namespace media
}  // namespace stylizer

#endif  // STYLIZER_SERVER_MEDIA_TESTING_FAKE_JOB_H_
