// StylizeVideo's responses: the pipeline's events, written one at a time.
#include <algorithm>
#include <cstdint>
#include <utility>

#include "absl/strings/str_cat.h"
#include "server/media/wait_time.h"
#include "server/service/status_util.h"
#include "server/service/stylize_video_reactor.h"

namespace stylizer {
namespace {

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
  out.set_mirrored(info.mirrored);
  out.set_output_width(width);
  out.set_output_height(height);
  out.set_container(info.container);
  out.set_hdr_transfer(info.hdr_transfer);
  return out;
}

size_t ResponseBytes(const v1::StylizeVideoResponse& r) {
  return r.has_chunk() ? r.chunk().data().size() : 64;
}

}  // namespace

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
  accepted->set_archive_sha256(service_->model().archive_sha256);
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
  summary->set_skipped_packets(static_cast<uint64_t>(result->packets_skipped));
  absl::MutexLock lock(&mu_);
  if (!result->outputs.empty()) record_.frames = result->outputs[0].frames;
  record_.packets_skipped = result->packets_skipped;
  record_.timestamp_jumps = result->timestamp_jumps;
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

}  // namespace stylizer
