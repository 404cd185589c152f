// StylizeVideo; see stylize_video_reactor.h.
#include "server/service/stylize_video_reactor.h"

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <limits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "server/media/wait_time.h"
#include "server/metrics/metrics.h"
#include "server/service/retry_info.h"
#include "server/service/status_util.h"
#include "server/service/work_pool.h"

namespace stylizer {
namespace {

constexpr char kMethod[] = "StylizeVideo";

std::string NewJobId() {
  static std::atomic<uint64_t> counter{0};
  return absl::StrFormat("v%x-%d", absl::ToUnixMillis(absl::Now()),
                         counter.fetch_add(1) + 1);
}

v1::VideoInfo ToProto(const media::MovieInfo& info, int width, int height) {
  v1::VideoInfo out;
  out.set_width(info.width);
  out.set_height(info.height);
  out.set_fps(info.fps);
  out.set_duration_seconds(info.duration_seconds);
  out.set_frames_estimate(info.frames_estimate > 0 ? info.frames_estimate : 0);
  out.set_has_audio(info.has_audio);
  out.set_video_codec(info.video_codec);
  out.set_audio_codec(info.audio_codec);
  out.set_rotation_degrees(info.rotation_degrees);
  out.set_output_width(width);
  out.set_output_height(height);
  out.set_container(info.container);
  out.set_hdr_transfer(info.hdr_transfer);
  return out;
}

// The most bytes an encoder hands on at once (MovieWriter's I/O buffer):
// each output may add one such chunk past max_pending_output_bytes.
constexpr int64_t kMaxChunkBytes = 64 * 1024;

// A refusal of a job's frames says what makes them smaller.
absl::Status WithVideoHint(absl::Status status) {
  if (status.code() != absl::StatusCode::kResourceExhausted) return status;
  return Reworded(status, status.code(),
                  absl::StrCat(status.message(),
                               " (a smaller max_side or fewer styles "
                               "lowers what a video job needs)"));
}

size_t ResponseBytes(const v1::StylizeVideoResponse& r) {
  return r.has_chunk() ? r.chunk().data().size() : 64;
}

}  // namespace

VideoReactorFactory MakeStylizeVideoReactorFactory(
    const StylizeVideoOptions& options) {
  return
      [options](ServiceContext* service, grpc::CallbackServerContext* context) {
        return StylizeVideoReactor::Start(service, context, options);
      };
}

RawBidiReactor* StylizeVideoReactor::Start(ServiceContext* service,
                                           grpc::CallbackServerContext* context,
                                           const StylizeVideoOptions& options) {
  auto* reactor = new StylizeVideoReactor(service, context, options);
  absl::StatusOr<std::unique_ptr<ServiceContext::StreamSlot>> slot =
      service->AcquireStreamSlot(kMethod);
  grpc::Status status;
  if (slot.ok()) {
    reactor->slot_ = *std::move(slot);
    media::Spool::Options spool;
    spool.memory_limit = options.spool_memory_bytes;
    spool.max_size = options.max_upload_bytes;
    spool.temp_dir = options.spool_dir;
    spool.disk_budget = options.spool_disk_budget.get();
    absl::StatusOr<std::unique_ptr<media::Spool>> created =
        media::Spool::Create(spool);
    if (created.ok()) {
      reactor->spool_ = *std::move(created);
    } else {
      status = ToGrpcStatus(created.status());
    }
  } else {
    status = ToGrpcStatus(slot.status());
  }
  if (!status.ok()) {
    reactor->Fail(status);
  } else {
    absl::MutexLock lock(&reactor->mu_);
    reactor->StartReadLocked();
  }
  return reactor;
}

StylizeVideoReactor::StylizeVideoReactor(ServiceContext* service,
                                         grpc::CallbackServerContext* context,
                                         const StylizeVideoOptions& options)
    : service_(service),
      context_(context),
      options_(options),
      job_id_(NewJobId()),
      start_(absl::Now()),
      log_(service, kMethod, *context),
      idle_(service->timers(), service->limits().stream_idle_timeout,
            [this] { OnIdle(); }) {
  log_.SetJobId(job_id_);
}

StylizeVideoReactor::~StylizeVideoReactor() {
  idle_.Stop();  // waits for an OnIdle that is running now
  std::unique_ptr<media::VideoPipeline> pipeline;
  {
    absl::MutexLock lock(&mu_);
    pipeline = std::move(pipeline_);
  }
  pipeline.reset();  // cancels if still running and joins its threads
  spool_.reset();
}

grpc::Status StylizeVideoReactor::StartJob(const v1::VideoJob& job) {
  absl::StatusOr<ResolvedStyles> styles = service_->ResolveStyles(job.styles());
  if (!styles.ok()) return ToGrpcStatus(styles.status());
  if (job.crf() > 51) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        absl::StrCat("crf must be 0..51, got ", job.crf()));
  }
  if (!v1::Container_IsValid(job.container())) {
    return grpc::Status(
        grpc::StatusCode::INVALID_ARGUMENT,
        absl::StrCat("unknown container ", static_cast<int>(job.container())));
  }
  if (job.codec() != v1::VIDEO_CODEC_UNSPECIFIED &&
      job.codec() != v1::VIDEO_CODEC_H264) {
    return grpc::Status(
        grpc::StatusCode::INVALID_ARGUMENT,
        absl::StrCat("unsupported video codec ", static_cast<int>(job.codec()),
                     "; this server writes H.264"));
  }
  if (job.input_size() > options_.max_upload_bytes) {
    return grpc::Status(
        grpc::StatusCode::RESOURCE_EXHAUSTED,
        absl::StrCat("the movie (", job.input_size(),
                     " bytes) is larger than the upload limit of ",
                     options_.max_upload_bytes, " bytes"));
  }
  output_indices_ = styles->output_indices;
  if (absl::Status s = ReserveFixedMemory(
          job.input_size(), static_cast<int>(output_indices_.size()));
      !s.ok()) {
    return ToGrpcStatus(s);
  }

  media::VideoPipeline::Options p;
  p.style_weights = std::move(styles->weights);
  ServiceContext* service = service_;
  p.open_job = [service](JobOptions o) {
    return service->OpenJob(std::move(o));
  };
  // Any max_side above the movie's size leaves it alone, however large.
  p.max_side = static_cast<int>(std::min<uint32_t>(
      job.max_side(), std::numeric_limits<int32_t>::max()));
  p.max_frame_pixels =
      static_cast<int64_t>(service_->limits().max_frame_pixels);
  p.container = job.container() == v1::CONTAINER_MATROSKA
                    ? media::OutputContainer::kMatroska
                    : media::OutputContainer::kFragmentedMp4;
  p.crf = job.crf() > 0 ? static_cast<int>(job.crf()) : options_.default_crf;
  p.preset = options_.preset;
  p.encoder_threads = options_.encoder_threads;
  p.cores = options_.cores;
  p.drop_audio = job.drop_audio();
  p.preserve_color = job.preserve_color();
  p.max_frames_in_flight = options_.max_frames_in_flight;
  p.max_pending_frames = options_.max_pending_frames;
  p.max_window_bytes = options_.max_window_bytes;
  p.reader.expected_size = job.input_size();
  p.progress_interval = options_.progress_interval;
  p.deadline = CallDeadline(*context_);
  p.name = absl::StrCat(kMethod, " ", job_id_);
  p.reserve_memory = [this](const media::VideoMemory& memory) {
    return ReserveFrameMemory(memory);
  };
  if (Metrics* metrics = service_->metrics()) {
    p.on_decode_time = [metrics](absl::Duration d) {
      metrics->RecordDecode(d);
    };
    p.on_encode_time = [metrics](absl::Duration d) {
      metrics->RecordEncode(d);
    };
  }
  absl::StatusOr<std::unique_ptr<media::VideoPipeline>> pipeline =
      media::VideoPipeline::Start(std::move(p), spool_.get(), this);
  if (!pipeline.ok()) return ToGrpcStatus(pipeline.status());
  media::VideoPipeline* cancel = nullptr;
  {
    absl::MutexLock lock(&mu_);
    pipeline_ = *std::move(pipeline);
    // OnCancel came meanwhile. The pipeline lives until the destructor.
    if (failure_.has_value()) cancel = pipeline_.get();
  }
  if (cancel != nullptr) cancel->Cancel(absl::CancelledError("the call ended"));
  return grpc::Status::OK;
}

absl::Status StylizeVideoReactor::ReserveFixedMemory(uint64_t input_size,
                                                     int outputs) {
  if (absl::Status s = spool_->ExpectSize(input_size); !s.ok()) return s;
  size_t spool_limit = options_.spool_memory_bytes;
  if (input_size > 0 && input_size < spool_limit) {
    // A small announced upload: charge its size and keep no more in memory
    // (a client that sends more spills to the temporary file).
    spool_limit = static_cast<size_t>(input_size);
    spool_->LimitMemory(spool_limit);
  }
  const int64_t spool_bytes =
      static_cast<int64_t>(media::Spool::MaxMemoryBytes(spool_limit));
  const int64_t output_bytes =
      static_cast<int64_t>(options_.max_pending_output_bytes) +
      (outputs + 1) * kMaxChunkBytes;
  absl::StatusOr<MemoryBudget::Reservation> reserved = service_->ReserveMemory(
      spool_bytes + output_bytes,
      absl::StrCat("a video job's upload spool (", spool_bytes,
                   " bytes) and unsent output (", output_bytes, " bytes)"));
  if (!reserved.ok()) return reserved.status();
  fixed_memory_ = *std::move(reserved);
  return absl::OkStatus();
}

absl::Status StylizeVideoReactor::ReserveFrameMemory(
    const media::VideoMemory& memory) {
  absl::StatusOr<MemoryBudget::Reservation> reserved = service_->ReserveMemory(
      memory.total(),
      absl::StrCat("the frame window (", memory.window_frames, " frames, ",
                   memory.window_bytes, " bytes) and ", memory.outputs,
                   memory.outputs == 1 ? " encoder (" : " encoders (",
                   memory.encoder_bytes, " bytes) of a ", memory.width, "x",
                   memory.height, " video job"),
      fixed_memory_.bytes());
  if (!reserved.ok()) return WithVideoHint(reserved.status());
  absl::MutexLock lock(&mu_);
  frame_memory_ = *std::move(reserved);
  return absl::OkStatus();
}

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
    ClientProgressedLocked();
  }
  if (!ok) {
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
    {
      absl::MutexLock lock(&mu_);
      received = bytes_in_;
    }
    // Shorter than announced: the reader, trusting input_size, would take
    // it for a truncated movie, or stylize the part as a whole one.
    if (declared_size_ > 0 &&
        static_cast<uint64_t>(received) < declared_size_) {
      Fail(grpc::Status(
          grpc::StatusCode::INVALID_ARGUMENT,
          absl::StrCat("the upload ended after ", received, " of the ",
                       declared_size_,
                       " bytes the job's input_size announced: send the "
                       "whole file, or input_size 0 when its size is not "
                       "known")));
      return;
    }
    spool_->Finish();
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
    declared_size_ = request_.job().input_size();
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
    log_.AddBytesIn(request_.chunk().size());
    const uint64_t chunk_size = request_.chunk().size();
    bool too_long = false;
    {
      absl::MutexLock lock(&mu_);
      too_long = declared_size_ > 0 &&
                 static_cast<uint64_t>(bytes_in_) + chunk_size > declared_size_;
      if (!too_long) {
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
                       declared_size_,
                       " bytes): set input_size to the "
                       "file's exact size, or 0 when it is not known")));
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
    return;
  } else {
    Fail(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                      "empty StylizeVideoRequest: set job or chunk"));
    return;
  }
  ReadNextWhenWanted();
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
  idle_.ArmIfDisarmed();
  StartRead(&request_);
}

void StylizeVideoReactor::ClientProgressedLocked() {
  if (read_in_flight_ || write_in_flight_) {
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
    if (finished_ || cancelling_ || (!read_in_flight_ && !write_in_flight_)) {
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

void StylizeVideoReactor::OnAccepted(const media::MovieInfo& info,
                                     int output_width, int output_height) {
  {
    absl::MutexLock lock(&mu_);
    record_.width = output_width;
    record_.height = output_height;
    record_.hdr_transfer = info.hdr_transfer;
  }
  v1::StylizeVideoResponse response;
  v1::JobAccepted* accepted = response.mutable_accepted();
  accepted->set_job_id(job_id_);
  *accepted->mutable_input() = ToProto(info, output_width, output_height);
  absl::MutexLock lock(&mu_);
  EnqueueLocked(std::move(response));
}

void StylizeVideoReactor::OnProgress(const media::VideoProgress& progress) {
  v1::StylizeVideoResponse response;
  v1::Progress* p = response.mutable_progress();
  p->set_frames_decoded(progress.frames_decoded);
  p->set_frames_done(progress.frames_done);
  p->set_frames_estimate(progress.frames_estimate > 0 ? progress.frames_estimate
                                                      : 0);
  p->set_fps(progress.fps);
  p->set_bytes_received(progress.bytes_received);
  absl::MutexLock lock(&mu_);
  record_.frames = progress.frames_decoded;
  frames_done_ = progress.frames_done;
  if (progress_queued_) {  // replace the one not yet sent
    for (auto it = responses_.rbegin(); it != responses_.rend(); ++it) {
      if (it->has_progress()) {
        *it = std::move(response);
        return;
      }
    }
  }
  progress_queued_ = true;
  EnqueueLocked(std::move(response));
}

absl::Status StylizeVideoReactor::OnOutputChunk(int output_index,
                                                absl::string_view bytes) {
  v1::StylizeVideoResponse response;
  v1::OutputChunk* chunk = response.mutable_chunk();
  chunk->set_output_index(output_indices_[output_index]);
  chunk->set_data(bytes.data(), bytes.size());
  absl::MutexLock lock(&mu_);
  if (pipeline_failing_ || failure_.has_value()) {
    return absl::CancelledError("the call is ending");
  }
  EnqueueLocked(std::move(response));
  // A slow reader: hold this encoder until the backlog drains (not encode
  // time: media::ScopedWait).
  media::ScopedWait waiting;
  mu_.Await(absl::Condition(
      +[](StylizeVideoReactor* r) ABSL_NO_THREAD_SAFETY_ANALYSIS {
        return r->pipeline_failing_ || r->failure_.has_value() ||
               r->queued_bytes_ <= r->options_.max_pending_output_bytes;
      },
      this));
  if (pipeline_failing_ || failure_.has_value()) {
    return absl::CancelledError("the call is ending");
  }
  return absl::OkStatus();
}

void StylizeVideoReactor::OnFailing(const absl::Status& status) {
  absl::MutexLock lock(&mu_);
  pipeline_failing_ = true;
}

void StylizeVideoReactor::OnFinished(
    absl::StatusOr<media::VideoSummary> result) {
  if (!result.ok()) {
    Fail(ToGrpcStatus(result.status()));
    return;
  }
  v1::StylizeVideoResponse response;
  v1::JobSummary* summary = response.mutable_summary();
  int64_t frames = 0;
  for (const media::OutputSummary& o : result->outputs) {
    v1::OutputSummary* out = summary->add_outputs();
    out->set_output_index(output_indices_[o.output_index]);
    out->set_frames(o.frames);
    out->set_bytes(o.bytes);
    out->set_duration_seconds(o.duration_seconds);
    frames += o.frames;
  }
  summary->set_elapsed_seconds(result->elapsed_seconds);
  absl::MutexLock lock(&mu_);
  if (!result->outputs.empty()) record_.frames = result->outputs[0].frames;
  if (finished_) return;  // logged already, as the call ended
  // Counted once: FinishLocked counts only a call that had no summary.
  log_.AddFrames(frames);
  frames_counted_ = true;
  if (failure_.has_value()) return;
  summary_queued_ = true;
  EnqueueLocked(std::move(response));
  MaybeFinishLocked();
}

void StylizeVideoReactor::EnqueueLocked(v1::StylizeVideoResponse response) {
  if (failure_.has_value() || finished_) return;
  queued_bytes_ += ResponseBytes(response);
  responses_.push_back(std::move(response));
  StartWriteIfIdleLocked();
}

void StylizeVideoReactor::StartWriteIfIdleLocked() {
  if (write_in_flight_ || responses_.empty() || failure_.has_value() ||
      finished_) {
    return;
  }
  writing_ = std::move(responses_.front());
  responses_.pop_front();
  if (writing_.has_progress()) progress_queued_ = false;
  write_in_flight_ = true;
  idle_.ArmIfDisarmed();
  StartWrite(&writing_);
}

void StylizeVideoReactor::OnMessageWritten(bool ok) {
  {
    absl::MutexLock lock(&mu_);
    write_in_flight_ = false;
    queued_bytes_ -= std::min(queued_bytes_, ResponseBytes(writing_));
    // Counted as sent once written: a call that ends drops what it had
    // queued.
    if (ok && writing_.has_chunk()) {
      const int64_t sent = static_cast<int64_t>(writing_.chunk().data().size());
      log_.AddBytesOut(sent);
      bytes_out_ += sent;
    }
    writing_.Clear();
    if (ok) {
      StartWriteIfIdleLocked();
      ClientProgressedLocked();
      MaybeFinishLocked();
      return;
    }
  }
  // The call has ended; at its deadline, that is the deadline (OnCancel,
  // which would say so, may come after this).
  Fail(CancelledCallStatus(*service_, *context_,
                           "the client stopped receiving"));
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
  // For the rpc line, which the call may write below: the outputs produced
  // so far, not as of the last progress report. Outside mu_, like every
  // call into the pipeline (it calls back into this reactor).
  const int64_t frames_done = pipeline != nullptr ? pipeline->frames_done() : 0;
  {
    absl::MutexLock lock(&mu_);
    frames_done_ = std::max(frames_done_, frames_done);
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
