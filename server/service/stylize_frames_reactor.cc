// StylizeFrames; see stylize_frames_reactor.h.
#include "server/service/stylize_frames_reactor.h"

#include "absl/strings/str_cat.h"
#include "server/service/image_codec.h"
#include "server/service/retry_info.h"
#include "server/service/status_util.h"
#include "server/service/work_pool.h"

namespace stylizer {
namespace {
constexpr char kMethod[] = "StylizeFrames";
}  // namespace

RawBidiReactor* StylizeFramesReactor::Start(
    ServiceContext* service, grpc::CallbackServerContext* context) {
  auto* reactor = new StylizeFramesReactor(service, context);
  if (reactor->Open()) {
    absl::MutexLock lock(&reactor->mu_);
    reactor->StartReadIfRoomLocked();
  }
  return reactor;
}

StylizeFramesReactor::StylizeFramesReactor(ServiceContext* service,
                                           grpc::CallbackServerContext* context)
    : service_(service),
      context_(context),
      log_(service, kMethod, *context),
      idle_(service->timers(), service->limits().stream_idle_timeout,
            [this] { OnIdle(); }) {}

StylizeFramesReactor::~StylizeFramesReactor() {
  idle_.Stop();  // waits for an OnIdle that is running now
  job_.reset();
}

bool StylizeFramesReactor::Open() {
  grpc::Status status = service_->Admit(*context_);
  if (status.ok()) {
    absl::StatusOr<std::unique_ptr<ServiceContext::StreamSlot>> slot =
        service_->AcquireStreamSlot(kMethod);
    if (slot.ok()) {
      slot_ = *std::move(slot);
    } else {
      status = ToGrpcStatus(slot.status());
    }
  }
  if (status.ok()) {
    JobOptions options;
    options.deadline = CallDeadline(*context_);
    options.name = kMethod;
    options.on_result = [this](FrameResult result) {
      OnResult(std::move(result));
    };
    absl::StatusOr<std::unique_ptr<Job>> job =
        service_->OpenJob(std::move(options));
    if (job.ok()) {
      job_ = *std::move(job);
    } else {
      status = ToGrpcStatus(job.status());
    }
  }
  if (status.ok()) return true;
  absl::MutexLock lock(&mu_);
  FailLocked(status);
  return false;
}

void StylizeFramesReactor::OnMalformedRead() {
  absl::MutexLock lock(&mu_);
  read_in_flight_ = false;
  ClientProgressedLocked();
  FailLocked(grpc::Status(
      grpc::StatusCode::INVALID_ARGUMENT,
      absl::StrCat("message ", messages_read_ + 1,
                   " of the stream is not a StylizeFramesRequest (damaged or "
                   "of another type); the frames after it were not read")));
}

void StylizeFramesReactor::OnMessageRead(bool ok) {
  absl::MutexLock lock(&mu_);
  read_in_flight_ = false;
  ClientProgressedLocked();
  if (!ok) {  // the client half-closed (or the call ended)
    reads_done_ = true;
    MaybeFinishLocked();
    return;
  }
  ++messages_read_;
  if (failure_.has_value()) return;
  if (grpc::Status token = service_->StillAuthorized(*context_); !token.ok()) {
    FailLocked(token);
    return;
  }
  AcceptRequestLocked();
}

void StylizeFramesReactor::AcceptRequestLocked() {
  if (failure_.has_value()) return;
  const int64_t bytes = static_cast<int64_t>(request_.ByteSizeLong());
  absl::StatusOr<MemoryBudget::Reservation> held = service_->ReserveMemory(
      bytes, absl::StrCat("a frame message of ", bytes, " bytes"));
  if (!held.ok()) {
    if (RetryDelay(held.status()).has_value() && unanswered_ > 0) {
      request_waits_for_write_ = true;  // this stream's answers hold memory
      return;
    }
    FailLocked(ToGrpcStatus(
        Reworded(held.status(), held.status().code(),
                 absl::StrCat("frame with sequence ", request_.sequence(), ": ",
                              held.status().message()))));
    return;
  }
  request_memory_ = *std::move(held);
  Ref();
  // A full work pool parks the message; the stream reads on once it ran.
  service_->pool()->PostWhenRoom([this] {
    ProcessRequest();
    Unref();
  });
}

void StylizeFramesReactor::ProcessRequest() {
  {
    absl::MutexLock lock(&mu_);
    if (failure_.has_value()) return;
  }
  const v1::Image& image = request_.image();
  if (!request_counted_) {
    log_.AddBytesIn(image.has_raw() ? image.raw().rgb().size()
                                    : image.encoded().size());
    request_counted_ = true;
  }
  absl::Status error;
  if (!request_.styles().empty() || !styles_.has_value()) {
    absl::StatusOr<ResolvedStyles> styles =
        service_->ResolveStyles(request_.styles());
    if (styles.ok()) {
      styles_ = *std::move(styles);
    } else {
      error = styles.status();
    }
  }
  // What the server holds for this frame until its answer is written: the
  // decoded input and per style its output and that output's encoded copy
  // in the response (both live while it is encoded; at most the raw size),
  // as a still image does. Reserved from the header before anything is
  // decoded (a frame DecodeImage refuses unallocated is left to it).
  MemoryBudget::Reservation memory;
  if (error.ok()) {
    const ImageSize size =
        DecodedSize(image, service_->limits().max_frame_pixels);
    const int64_t styles = static_cast<int64_t>(styles_->weights.size());
    if (size.width > 0) {
      // What no wait can fix is refused from the header, before reserving
      // and decoding.
      error = service_->CheckPictureFits(
          ResolveOutputFormat(request_.output_format(), image), size.width,
          size.height, styles);
    }
    if (error.ok() && size.width > 0) {
      const int64_t frame_bytes = int64_t{size.width} * size.height * 3;
      absl::StatusOr<MemoryBudget::Reservation> reserved =
          service_->ReserveMemory(
              frame_bytes *
                  static_cast<int64_t>(1 + 2 * styles_->weights.size()),
              absl::StrCat("a ", size.width, "x", size.height, " frame with ",
                           styles_->weights.size(),
                           styles_->weights.size() == 1 ? " style" : " styles"),
              request_memory_.bytes());
      if (reserved.ok()) {
        memory = *std::move(reserved);
      } else if (RetryDelay(reserved.status()).has_value()) {
        // Busy. Where this stream's own unanswered frames hold memory, the
        // frame waits for their writes, which give it back: told to retry,
        // it was told to wait for itself, and every retry failed the same.
        absl::MutexLock lock(&mu_);
        if (unanswered_ > 0 && !failure_.has_value()) {
          frame_waits_for_write_ = true;
          return;
        }
        error = reserved.status();
      } else {
        error = reserved.status();
      }
    }
  }
  absl::StatusOr<RgbFrame> frame;
  if (error.ok()) {
    frame = DecodeImage(image, service_->limits().max_frame_pixels);
    if (!frame.ok()) error = frame.status();
  }
  const v1::ImageFormat format =
      ResolveOutputFormat(request_.output_format(), image);
  if (error.ok()) {
    error = CheckOutputs(format, frame->width, frame->height,
                         static_cast<int64_t>(styles_->weights.size()),
                         service_->limits().max_response_bytes);
  }
  if (!error.ok()) {
    // Reworded keeps a busy refusal's retry hint (a payload).
    absl::MutexLock lock(&mu_);
    FailLocked(ToGrpcStatus(
        Reworded(error, error.code(),
                 absl::StrCat("frame with sequence ", request_.sequence(), ": ",
                              error.message()))));
    return;
  }
  pending_ = FrameRequest();
  pending_.frame = std::make_shared<const RgbFrame>(*std::move(frame));
  pending_.style_weights = styles_->weights;
  pending_.sequence = next_sequence_++;
  pending_meta_.client_sequence = request_.sequence();
  pending_meta_.output_indices = styles_->output_indices;
  pending_meta_.format = format;
  pending_meta_.color_source =
      request_.preserve_color() ? pending_.frame : nullptr;
  pending_meta_.memory = std::move(memory);
  // The request's picture is decoded: its bytes (a raw 4K frame is 26 MB)
  // go now, not when the next request is read, which may be long after.
  request_.clear_image();
  request_memory_.Release();
  TrySubmitPending();
}

void StylizeFramesReactor::TrySubmitPending() {
  {
    absl::MutexLock lock(&mu_);
    if (failure_.has_value()) return;
  }
  {
    // Queued before submitting: the result may arrive before TrySubmit
    // returns. (A failure from now on drops it in EncodeResults.)
    absl::MutexLock lock(&results_mu_);
    submitted_.push_back(std::move(pending_meta_));
  }
  Ref();  // held by the frame's result
  const absl::Status status = job_->TrySubmit(&pending_);
  if (!status.ok()) {
    // The last one is this frame's: one frame of a stream is submitted at
    // a time.
    absl::MutexLock lock(&results_mu_);
    pending_meta_ = std::move(submitted_.back());  // for the retry
    submitted_.pop_back();
  }
  absl::MutexLock lock(&mu_);
  if (status.ok()) {
    pending_ = FrameRequest();  // the queue holds the frame while it needs it
    ++unanswered_;
    StartReadIfRoomLocked();
    return;
  }
  Unref();  // no result will come (the caller's reference keeps us alive)
  if (status.code() == absl::StatusCode::kResourceExhausted &&
      !failure_.has_value()) {
    // No room now: resume when the queue says so. Not reading meanwhile is
    // what pushes back on the client.
    Ref();
    job_->NotifyWhenRoom([this] {
      service_->pool()->Post([this] {
        TrySubmitPending();
        Unref();
      });
    });
    return;
  }
  // Anything else is this frame's fault (say over one job's share of the
  // queue): named like any other bad frame.
  FailLocked(ToGrpcStatus(Reworded(
      status, status.code(),
      absl::StrCat("frame with sequence ", pending_meta_.client_sequence, ": ",
                   status.message()))));
}

void StylizeFramesReactor::StartReadIfRoomLocked() {
  if (failure_.has_value() || reads_done_) return;
  if (unanswered_ >= service_->limits().max_frames_buffered_per_stream) {
    read_waits_for_write_ = true;
    return;
  }
  read_in_flight_ = true;
  request_counted_ = false;
  if (WaitingOnClientLocked()) idle_.ArmIfDisarmed();
  StartRead(&request_);
}

bool StylizeFramesReactor::WaitingOnClientLocked() const {
  return write_in_flight_ || (read_in_flight_ && unanswered_ == 0);
}

void StylizeFramesReactor::ClientProgressedLocked() {
  if (WaitingOnClientLocked()) {
    // A write in flight keeps its time to send: a plain restart cut a slow
    // reader off at the second of two large answers.
    idle_.Restart(write_in_flight_ ? writing_extra_ : absl::ZeroDuration());
  } else {
    idle_.Disarm();
  }
}

void StylizeFramesReactor::OnIdle() {
  {
    absl::MutexLock lock(&mu_);
    // Progress may have raced the timer; a finished call has nothing to end.
    if (finished_ || cancelling_ || !WaitingOnClientLocked()) return;
    const bool stalled_write = write_in_flight_;
    if (failure_.has_value()) {
      // Failed already (a bad frame, the memory budget) while a write was
      // out: Finish waits for that write, so on the client just the same,
      // and only cancelling the call ends it.
      if (!stalled_write) return;
      cancelling_ = true;
    } else {
      cancelling_ = stalled_write;
      FailLocked(StreamIdleStatus(idle_.timeout(), stalled_write));
      if (!stalled_write) return;  // Finish went out; the read ends with it
    }
  }
  // A write the client does not take never completes, and Finish waits for
  // it: cancel the call (outside mu_: OnCancel takes it) so the write fails.
  context_->TryCancel();
  absl::MutexLock lock(&mu_);
  cancelling_ = false;
  MaybeFinishLocked();
}

void StylizeFramesReactor::OnCancel() {
  absl::MutexLock lock(&mu_);
  FailLocked(CancelledCallStatus(*service_, *context_));
}

void StylizeFramesReactor::FailLocked(const grpc::Status& status) {
  if (finished_) return;
  if (failure_.has_value()) {
    // Already failing (say OnCancel while a write was in flight): the call
    // may only now be able to finish, and must, or OnDone never comes.
    MaybeFinishLocked();
    return;
  }
  failure_ = status;
  responses_.clear();
  response_memory_.clear();
  response_bytes_.clear();
  if (job_ != nullptr) {
    // Drops the job's queued frames at once (their results come back as
    // CANCELLED). Off this thread: never call into the queue under mu_.
    Ref();
    service_->pool()->Post([this] {
      job_->Cancel();
      Unref();
    });
  }
  MaybeFinishLocked();
}

void StylizeFramesReactor::MaybeFinishLocked() {
  if (finished_ || write_in_flight_ || cancelling_) return;
  if (failure_.has_value()) {
    finished_ = true;
    const absl::Status logged = log_.Finish(*failure_);
    // The slot is free before the client can see the status: a caller that
    // opens its next stream at once must find it free.
    slot_.reset();
    AddRetryPushback(context_, logged);
    Finish(*failure_);
    return;
  }
  if (reads_done_ && unanswered_ == 0) {
    // A read also ends when the call is cancelled, and OnCancel may come
    // after it: a call that ended so ends for that reason, not OK (a
    // deadline that passed while the last frame was computed was counted
    // as OK when its answer came before OnCancel).
    const grpc::Status status = context_->IsCancelled()
                                    ? CancelledCallStatus(*service_, *context_)
                                    : grpc::Status::OK;
    finished_ = true;
    if (status.ok()) {
      finished_ok_ = true;  // logged in OnDone
    } else {
      log_.Finish(status).IgnoreError();  // cancelled: no retry trailer
    }
    slot_.reset();
    Finish(status);
  }
}

void StylizeFramesReactor::OnDone() {
  bool finished_ok = false;
  {
    absl::MutexLock lock(&mu_);
    finished_ok = finished_ok_;
  }
  // A stream message over --max_receive_message_bytes ends the reads as a
  // half-close does, while gRPC cancels the call and its client gets
  // RESOURCE_EXHAUSTED: such a call was logged OK, and only now does gRPC
  // say that its client never had that OK.
  if (finished_ok) {
    log_.Finish(context_->IsCancelled()
                    ? CancelledCallStatus(*service_, *context_)
                    : grpc::Status::OK)
        .IgnoreError();
  }
  Unref();
}

void StylizeFramesReactor::Unref() {
  if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
}

}  // namespace stylizer
