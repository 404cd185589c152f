// A VideoPipeline's writing side: results from the job queue into the
// window, each output's writer thread, and progress reports (see
// video_pipeline.h).
#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "server/media/preserve_color.h"
#include "server/media/video_pipeline.h"
#include "server/media/video_pipeline_entry.h"
#include "server/media/wait_time.h"

namespace stylizer {
namespace media {

void VideoPipeline::OnResult(FrameResult result) {
  absl::MutexLock lock(&mu_);
  auto it = awaiting_.find(result.sequence);
  if (it == awaiting_.end()) return;  // the job was torn down
  Entry* entry = it->second;
  awaiting_.erase(it);
  entry->status = std::move(result.status);
  if (entry->status.ok() &&
      static_cast<int>(result.outputs.size()) != num_outputs_) {
    entry->status = absl::InternalError(
        absl::StrCat("the job queue returned ", result.outputs.size(),
                     " outputs for ", num_outputs_, " styles"));
  }
  entry->outputs = std::move(result.outputs);
  entry->ready = true;
}

void VideoPipeline::WriterLoop(int index, MovieWriter* writer) {
  while (true) {
    Entry* entry = nullptr;
    RgbFrame frame;
    {
      absl::MutexLock lock(&mu_);
      auto next_ready = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        if (!error_.ok()) return true;
        uint64_t pos = cursors_[index] - window_base_;
        return pos < window_.size() &&
               (window_[pos]->kind != Entry::Kind::kVideo ||
                window_[pos]->ready);
      };
      mu_.Await(absl::Condition(&next_ready));
      if (!error_.ok()) return;
      entry = window_[cursors_[index] - window_base_].get();
      if (entry->kind == Entry::Kind::kVideo && entry->status.ok()) {
        frame = std::move(entry->outputs[index]);
      }
    }
    absl::Status s;
    bool end = false;
    switch (entry->kind) {
      case Entry::Kind::kVideo:
        if (entry->status.ok()) {
          // color_source is set before the entry enters the window and never
          // changes; the entry stays until this writer has consumed it.
          if (entry->color_source != nullptr) {
            s = PreserveColor(*entry->color_source, &frame);
            if (!s.ok()) break;
          }
          const absl::Time encode_start = absl::Now();
          const absl::Duration waited_before = ThreadWaitTime();
          s = writer->WriteVideo(frame, entry->pts, entry->duration);
          if (options_.on_encode_time) {
            options_.on_encode_time(absl::Now() - encode_start -
                                    (ThreadWaitTime() - waited_before));
          }
        } else {
          s = entry->status;
        }
        break;
      case Entry::Kind::kAudio:
        s = writer->WriteAudio(*entry->packet);
        break;
      case Entry::Kind::kEnd:
        s = writer->Finish();
        end = true;
        break;
    }
    if (!s.ok()) {
      Cancel(s);
      return;
    }
    {
      absl::MutexLock lock(&mu_);
      ++cursors_[index];
      ++entry->consumed;
      while (!window_.empty() && window_.front()->consumed == num_outputs_) {
        if (window_.front()->kind == Entry::Kind::kVideo) {
          --window_frames_;
          ++frames_done_;
        } else if (window_.front()->kind == Entry::Kind::kAudio) {
          --window_audio_;
        }
        window_.pop_front();
        ++window_base_;
      }
    }
    if (end) return;
    MaybeReportProgress();
  }
}

void VideoPipeline::MaybeReportProgress() {
  VideoProgress progress;
  {
    absl::MutexLock lock(&mu_);
    absl::Time now = absl::Now();
    if (now - last_progress_ < options_.progress_interval) return;
    double seconds = absl::ToDoubleSeconds(now - last_progress_);
    progress.fps =
        last_progress_ == absl::InfinitePast() || seconds <= 0
            ? frames_done_ /
                  std::max(1e-9, absl::ToDoubleSeconds(now - start_time_))
            : (frames_done_ - frames_done_at_last_progress_) / seconds;
    last_progress_ = now;
    frames_done_at_last_progress_ = frames_done_;
    progress.frames_decoded = frames_decoded_;
    progress.frames_done = frames_done_;
    progress.frames_estimate = frames_estimate_;
  }
  progress.bytes_received = spool_->bytes_received();
  sink_->OnProgress(progress);
}

}  // namespace media
}  // namespace stylizer
