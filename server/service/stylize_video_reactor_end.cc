// How a StylizeVideo call ends: idle timer, cancel, failure, final status.
#include <algorithm>
#include <cstdint>

#include "absl/time/clock.h"
#include "server/metrics/metrics.h"
#include "server/service/status_util.h"
#include "server/service/stylize_video_reactor.h"
#include "server/service/work_pool.h"

namespace stylizer {

bool StylizeVideoReactor::WaitingOnClientLocked() const {
  return write_in_flight_ || (read_in_flight_ && !UploadCompleteLocked());
}

bool StylizeVideoReactor::UploadCompleteLocked() const {
  return declared_size_ > 0 &&
         static_cast<uint64_t>(bytes_in_) == declared_size_;
}

void StylizeVideoReactor::ClientProgressedLocked() {
  if (WaitingOnClientLocked()) {
    idle_.Restart();
  } else {
    idle_.Disarm();
  }
}

void StylizeVideoReactor::OnIdle() {
  bool stalled_write = false;
  bool failed_already = false;
  {
    absl::MutexLock lock(&mu_);
    if (finished_ || cancelling_ || !WaitingOnClientLocked()) {
      return;
    }
    stalled_write = write_in_flight_;
    // Failed already (a second VideoJob, a broken movie) while a write was
    // out: Finish waits for that write, so on the client just the same, and
    // only cancelling the call ends it. (A write that starts after this
    // check arms the timer again, and its expiry comes back here.)
    failed_already = failure_.has_value();
    if (failed_already && !stalled_write) return;
    // The context lives until OnDone, which Finish lets come: hold Finish
    // back until TryCancel below has returned.
    cancelling_ = stalled_write;
  }
  if (!failed_already) Fail(StreamIdleStatus(idle_.timeout(), stalled_write));
  if (!stalled_write) return;
  // A write the client does not take never completes, and Finish waits for
  // it: cancelling the call makes the write fail.
  context_->TryCancel();
  absl::MutexLock lock(&mu_);
  cancelling_ = false;
  MaybeFinishLocked();
}

void StylizeVideoReactor::OnCancel() {
  Fail(CancelledCallStatus(*service_, *context_));
}

void StylizeVideoReactor::Fail(const grpc::Status& status) {
  media::VideoPipeline* pipeline = nullptr;
  {
    absl::MutexLock lock(&mu_);
    pipeline = pipeline_.get();
  }
  // For the rpc and job lines, which the call may write below: the outputs
  // produced and the frames decoded so far, not as of the last progress
  // report (a job that failed within its first report said frames=0).
  // Outside mu_, like every call into the pipeline (it calls back into this
  // reactor).
  const int64_t frames_done = pipeline != nullptr ? pipeline->frames_done() : 0;
  const int64_t frames_decoded =
      pipeline != nullptr ? pipeline->frames_decoded() : 0;
  {
    absl::MutexLock lock(&mu_);
    frames_done_ = std::max(frames_done_, frames_done);
    record_.frames = std::max(record_.frames, frames_decoded);
    if (finished_) return;
    if (failure_.has_value()) {
      // Already failing (say OnCancel while a write was in flight): the
      // call may only now be able to finish, and must, or OnDone never
      // comes and the server cannot shut down.
      MaybeFinishLocked();
      return;
    }
    failure_ = status;
    responses_.clear();
    queued_bytes_ = 0;
    pipeline = pipeline_.get();
    MaybeFinishLocked();
  }
  // Outside mu_: the pipeline calls back into OnFailing. The pipeline lives
  // until the destructor.
  if (pipeline != nullptr) {
    pipeline->Cancel(
        absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                     status.error_message()));
  } else if (spool_ != nullptr) {
    spool_->Abort(absl::CancelledError("the call ended"));
  }
}

void StylizeVideoReactor::MaybeFinishLocked() {
  if (finished_ || write_in_flight_ || cancelling_) return;
  if (failure_.has_value()) {
    FinishLocked(*failure_);
  } else if (summary_queued_ && responses_.empty()) {
    FinishLocked(grpc::Status::OK);
  }
}

void StylizeVideoReactor::FinishLocked(const grpc::Status& status) {
  finished_ = true;
  record_.job_id = job_id_;
  record_.peer = context_->peer();
  record_.request_id = log_.request_id();
  record_.trace_id = log_.trace_id();
  record_.status =
      absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                   status.error_message());
  record_.duration = absl::Now() - start_;
  record_.outputs = static_cast<int>(output_indices_.size());
  record_.bytes_in = bytes_in_;
  record_.bytes_out = bytes_out_;
  // A call refused at the door (no stream slot) was no job: its rpc line is
  // all there is to say.
  if (slot_ != nullptr) LogVideoJob(record_);
  if (!frames_counted_) {
    // The rpc line's frames are the outputs produced, also of a job that
    // ends early (it said 0 after outputs had been sent): as Fail() read
    // them from the pipeline, or the last progress report.
    log_.AddFrames(frames_done_ * static_cast<int64_t>(output_indices_.size()));
    frames_counted_ = true;
  }
  const absl::Status logged = log_.Finish(status);
  // The slot is free before the client can see the status (the reactor is
  // destroyed later, on the work pool, after its pipeline's threads end).
  slot_.reset();
  AddRetryPushback(context_, logged);
  Finish(status);
}

void StylizeVideoReactor::OnDone() {
  {
    absl::MutexLock lock(&mu_);
    done_ = true;
    if (appends_in_flight_ > 0) return;  // AppendChunk deletes
  }
  // Deleting joins the pipeline's threads: not on a gRPC thread.
  service_->pool()->Post([this] { delete this; });
}

}  // namespace stylizer
