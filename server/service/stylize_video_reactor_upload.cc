// StylizeVideo's read path: the VideoJob, then the upload into the spool.
#include <cstdint>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "server/service/status_util.h"
#include "server/service/stylize_video_reactor.h"
#include "server/service/work_pool.h"

namespace stylizer {

void StylizeVideoReactor::OnMalformedRead() {
  int64_t received = 0;
  {
    absl::MutexLock lock(&mu_);
    read_in_flight_ = false;
    ClientProgressedLocked();
    received = bytes_in_;
  }
  // A damaged upload is not a shorter movie: it ends here, named.
  Fail(grpc::Status(
      grpc::StatusCode::INVALID_ARGUMENT,
      absl::StrCat("a message of the upload, after ", received,
                   " bytes of the movie, is not a StylizeVideoRequest "
                   "(damaged or of another type)")));
}

void StylizeVideoReactor::OnMessageRead(bool ok) {
  {
    absl::MutexLock lock(&mu_);
    read_in_flight_ = false;
    last_read_waited_ = absl::Now() - read_started_;
    ClientProgressedLocked();
  }
  if (!ok) {
    EndUpload();
    return;
  }
  if (grpc::Status token = service_->StillAuthorized(*context_); !token.ok()) {
    Fail(token);
    return;
  }
  if (request_.has_job()) {
    if (job_received_) {
      Fail(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        "the VideoJob message was sent twice; send it once, "
                        "first"));
      return;
    }
    job_received_ = true;
    {
      absl::MutexLock lock(&mu_);
      declared_size_ = request_.job().input_size();
    }
    grpc::Status status = StartJob(request_.job());
    if (!status.ok()) {
      Fail(status);
      return;
    }
  } else if (request_.has_chunk()) {
    if (!job_received_) {
      Fail(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        "the first message must be the VideoJob, before any "
                        "movie bytes"));
      return;
    }
    StoreChunk();
    return;
  } else {
    Fail(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                      "empty StylizeVideoRequest: set job or chunk"));
    return;
  }
  ReadNextWhenWanted();
}

void StylizeVideoReactor::EndUpload() {
  // A read also ends when the call is cancelled, and OnCancel may come
  // after it: the upload is then not complete, and no VideoJob is not the
  // client's mistake.
  if (context_->IsCancelled()) {
    Fail(CancelledCallStatus(*service_, *context_));
    return;
  }
  // The client half-closed: the upload is complete.
  if (!job_received_) {
    Fail(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                      "the stream ended before the VideoJob message"));
    return;
  }
  int64_t received = 0;
  uint64_t declared = 0;
  {
    absl::MutexLock lock(&mu_);
    received = bytes_in_;
    declared = declared_size_;
  }
  // Shorter than announced: the reader, trusting input_size, would take
  // it for a truncated movie, or stylize the part as a whole one.
  if (declared > 0 && static_cast<uint64_t>(received) < declared) {
    Fail(grpc::Status(
        grpc::StatusCode::INVALID_ARGUMENT,
        absl::StrCat("the upload ended after ", received, " of the ", declared,
                     " bytes the job's input_size announced: send the "
                     "whole file, or input_size 0 when its size is not "
                     "known")));
    return;
  }
  spool_->Finish();
}

void StylizeVideoReactor::StoreChunk() {
  log_.AddBytesIn(request_.chunk().size());
  const uint64_t chunk_size = request_.chunk().size();
  bool too_long = false;
  uint64_t declared = 0;
  absl::Status pace;
  {
    absl::MutexLock lock(&mu_);
    declared = declared_size_;
    too_long = declared > 0 &&
               static_cast<uint64_t>(bytes_in_) + chunk_size > declared;
    pace = pace_.Add(chunk_size, last_read_waited_);
    if (!too_long && pace.ok()) {
      // The spool ends the upload at the last declared byte too
      // (Spool::ExpectSize); UploadCompleteLocked then holds.
      bytes_in_ += static_cast<int64_t>(chunk_size);
      ++appends_in_flight_;
    }
  }
  if (too_long) {
    // The reader trusts input_size: past it, it would see a truncated
    // file and blame the movie.
    Fail(grpc::Status(
        grpc::StatusCode::INVALID_ARGUMENT,
        absl::StrCat("the upload is longer than the job's input_size (",
                     declared,
                     " bytes): set input_size to the "
                     "file's exact size, or 0 when it is not known")));
    return;
  }
  if (!pace.ok()) {
    // A trickle held its stream slot and its spool disk for as long as it
    // sent a byte within every idle timeout.
    Fail(ToGrpcStatus(pace));
    return;
  }
  // Storing may write megabytes to the spill file: not on gRPC's thread.
  // The next read starts only after it, so chunks stay in order. request_
  // is emptied before the task is posted: the task starts the next read
  // into request_, which may complete before this thread runs again.
  std::string chunk = std::move(*request_.mutable_chunk());
  request_.clear_chunk();
  service_->pool()->Post(
      [this, chunk = std::move(chunk)] { AppendChunk(chunk); });
}

void StylizeVideoReactor::AppendChunk(const std::string& chunk) {
  absl::Status s = spool_->Append(chunk);
  if (s.ok()) {
    ReadNextWhenWanted();
  } else {
    // An aborted spool means the pipeline failed: its status wins.
    Fail(ToGrpcStatus(s));
  }
  bool delete_now = false;
  {
    absl::MutexLock lock(&mu_);
    --appends_in_flight_;
    delete_now = done_ && appends_in_flight_ == 0;
  }
  // OnDone came meanwhile and left the deletion to this task (a pool thread).
  if (delete_now) delete this;
}

void StylizeVideoReactor::ReadNextWhenWanted() {
  spool_->NotifyWhenWantsMore([this] {
    absl::MutexLock lock(&mu_);
    if (failure_.has_value() || finished_ || done_) return;
    StartReadLocked();
  });
}

void StylizeVideoReactor::StartReadLocked() {
  read_in_flight_ = true;
  read_started_ = absl::Now();
  if (WaitingOnClientLocked()) idle_.ArmIfDisarmed();
  StartRead(&request_);
}

}  // namespace stylizer
