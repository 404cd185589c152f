// StylizeFrames's write path: the job queue's results, encoded on the work
// pool and written in the order their frames came.
#include <utility>

#include "absl/strings/str_cat.h"
#include "server/media/preserve_color.h"
#include "server/service/image_codec.h"
#include "server/service/status_util.h"
#include "server/service/stylize_frames_reactor.h"
#include "server/service/work_pool.h"

namespace stylizer {

void StylizeFramesReactor::OnResult(FrameResult result) {
  absl::MutexLock lock(&results_mu_);
  results_.push_back(std::move(result));
  if (encoding_) return;
  encoding_ = true;
  Ref();
  service_->pool()->Post([this] {
    EncodeResults();
    Unref();
  });
}

void StylizeFramesReactor::EncodeResults() {
  while (true) {
    FrameResult result;
    FrameMeta meta;
    {
      absl::MutexLock lock(&results_mu_);
      if (results_.empty()) {
        encoding_ = false;
        return;
      }
      result = std::move(results_.front());
      results_.pop_front();
      meta = std::move(submitted_.front());
      submitted_.pop_front();
    }
    {
      absl::MutexLock lock(&mu_);
      if (failure_.has_value()) {  // the stream is ending: drop the result
        Unref();
        continue;
      }
    }
    absl::Status status = result.status;
    if (status.ok() && result.outputs.size() != meta.output_indices.size()) {
      status = absl::InternalError(
          absl::StrCat("the queue returned ", result.outputs.size(),
                       " outputs for ", meta.output_indices.size(), " styles"));
    }
    v1::StylizeFramesResponse response;
    response.set_sequence(meta.client_sequence);
    int64_t bytes = 0;
    for (size_t i = 0; status.ok() && i < result.outputs.size(); ++i) {
      v1::StyledImage* out = response.add_images();
      out->set_output_index(meta.output_indices[i]);
      if (meta.color_source != nullptr) {
        status = media::PreserveColor(*meta.color_source, &result.outputs[i]);
        if (!status.ok()) break;
      }
      status =
          EncodeImage(result.outputs[i], meta.format, out->mutable_image());
      bytes += out->image().has_raw() ? out->image().raw().rgb().size()
                                      : out->image().encoded().size();
    }
    {
      absl::MutexLock lock(&mu_);
      if (!status.ok()) {
        FailLocked(ToGrpcStatus(status));
      } else if (!failure_.has_value()) {
        log_.AddFrames(response.images_size());
        response_bytes_.push_back(bytes);
        responses_.push_back(std::move(response));
        response_memory_.push_back(std::move(meta.memory));
        StartWriteIfIdleLocked();
      }
    }
    Unref();  // the frame's reference; the pool task still holds one
  }
}

void StylizeFramesReactor::StartWriteIfIdleLocked() {
  if (write_in_flight_ || responses_.empty() || failure_.has_value()) return;
  // Serialized by StartWrite, then freed: only the serialized copy lives
  // while the write runs, which is what writing_memory_ holds for it.
  const v1::StylizeFramesResponse response = std::move(responses_.front());
  responses_.pop_front();
  writing_memory_ = std::move(response_memory_.front());
  response_memory_.pop_front();
  writing_bytes_ = response_bytes_.front();
  response_bytes_.pop_front();
  write_in_flight_ = true;
  // From now, with the time a slow reader needs for this message on top
  // (kept by every restart while the write runs).
  writing_extra_ = TimeToSend(static_cast<int64_t>(response.ByteSizeLong()));
  idle_.Restart(writing_extra_);
  StartWrite(&response);
}

void StylizeFramesReactor::OnMessageWritten(bool ok) {
  absl::MutexLock lock(&mu_);
  write_in_flight_ = false;
  writing_memory_.Release();
  if (!ok) {
    // The call has ended; at its deadline, that is the deadline (OnCancel,
    // which would say so, may come after this).
    FailLocked(CancelledCallStatus(*service_, *context_,
                                   "the client stopped receiving"));
    return;
  }
  --unanswered_;
  log_.AddBytesOut(writing_bytes_);
  if (request_waits_for_write_) {
    // The memory this write held is back: the message read tries again.
    request_waits_for_write_ = false;
    AcceptRequestLocked();
  } else if (frame_waits_for_write_) {
    // The memory this write held is back: the waiting frame tries again.
    frame_waits_for_write_ = false;
    Ref();
    service_->pool()->Post([this] {
      ProcessRequest();
      Unref();
    });
  } else if (read_waits_for_write_) {  // never both: a waiting frame is read
    read_waits_for_write_ = false;
    StartReadIfRoomLocked();
  }
  StartWriteIfIdleLocked();
  ClientProgressedLocked();
  MaybeFinishLocked();
}

}  // namespace stylizer
