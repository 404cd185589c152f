// The fake job queue for video pipeline tests (see fake_job.h).
#include "server/media/testing/fake_job.h"

#include <deque>
#include <thread>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace stylizer {
namespace media {
namespace testing {

class FakeJob : public Job {
 public:
  FakeJob(FakeJobQueue* queue, JobOptions options)
      : queue_(queue),
        options_(std::move(options)),
        max_in_flight_(options_.max_frames_in_flight > 0
                           ? options_.max_frames_in_flight
                           : queue->options_.default_max_frames_in_flight) {
    ++queue_->open_jobs_;
    thread_ = std::thread([this] { Work(); });
  }

  ~FakeJob() override {
    {
      absl::MutexLock lock(&mu_);
      cancelled_ = true;
      stopping_ = true;
    }
    thread_.join();
    --queue_->open_jobs_;
  }

  absl::Status TrySubmit(FrameRequest* request) override {
    absl::MutexLock lock(&mu_);
    if (cancelled_) return absl::CancelledError("job cancelled");
    if (in_flight_ >= max_in_flight_) {
      return absl::ResourceExhaustedError("no room");
    }
    AdmitLocked(request);
    return absl::OkStatus();
  }

  absl::Status Submit(FrameRequest* request) override {
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(
        +[](FakeJob* j) ABSL_NO_THREAD_SAFETY_ANALYSIS {
          return j->cancelled_ || j->in_flight_ < j->max_in_flight_;
        },
        this));
    if (cancelled_) return absl::CancelledError("job cancelled");
    AdmitLocked(request);
    return absl::OkStatus();
  }

  void NotifyWhenRoom(std::function<void()> callback) override {
    // Not used by the video pipeline.
    callback();
  }

  void Cancel() override {
    absl::MutexLock lock(&mu_);
    cancelled_ = true;
  }

 private:
  void AdmitLocked(FrameRequest* request) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    ++in_flight_;
    ++queue_->frames_submitted_;
    pending_.push_back(std::move(*request));
  }

  void Work() {
    while (true) {
      FrameRequest request;
      bool cancelled = false;
      {
        absl::MutexLock lock(&mu_);
        mu_.Await(absl::Condition(
            +[](FakeJob* j) ABSL_NO_THREAD_SAFETY_ANALYSIS {
              return j->stopping_ || !j->pending_.empty();
            },
            this));
        if (stopping_) return;  // destroyed: no more callbacks
        if (queue_->options_.deliver_while_closing) {
          mu_.Await(absl::Condition(&stopping_));
          request = std::move(pending_.front());
          pending_.clear();
          cancelled = true;
          // on_result runs while ~FakeJob waits in join().
        } else {
          request = std::move(pending_.front());
          pending_.pop_front();
          cancelled = cancelled_;
        }
      }
      FrameResult result;
      result.sequence = request.sequence;
      if (cancelled) {
        result.status = absl::CancelledError("job cancelled");
      } else if (static_cast<int64_t>(request.sequence) ==
                 queue_->options_.fail_sequence) {
        result.status = queue_->options_.fail_status;
      } else {
        if (queue_->options_.delay > absl::ZeroDuration()) {
          absl::SleepFor(queue_->options_.delay);
        }
        for (size_t k = 0; k < request.style_weights.size(); ++k) {
          RgbFrame out = *request.frame;
          for (uint8_t& p : out.pixels) {
            p = static_cast<uint8_t>((255 - p) / (k + 1));
          }
          result.outputs.push_back(std::move(out));
        }
      }
      options_.on_result(std::move(result));
      absl::MutexLock lock(&mu_);
      --in_flight_;
      if (queue_->options_.deliver_while_closing) return;
    }
  }

  FakeJobQueue* const queue_;
  const JobOptions options_;
  const int max_in_flight_;
  absl::Mutex mu_;
  std::deque<FrameRequest> pending_ ABSL_GUARDED_BY(mu_);
  int in_flight_ ABSL_GUARDED_BY(mu_) = 0;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

absl::StatusOr<std::unique_ptr<Job>> FakeJobQueue::OpenJob(JobOptions options) {
  return std::unique_ptr<Job>(new FakeJob(this, std::move(options)));
}

}  // namespace testing
}  // namespace media
}  // namespace stylizer
