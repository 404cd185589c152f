// A split job's progress: the segments' summed into one display, and each
// segment's call observed; see split_video_internal.h.
#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "client/rpc_errors.h"
#include "client/split_video_internal.h"

namespace stylizer::client {

SplitProgress::SplitProgress(ProgressReporter* progress,
                             std::vector<uint64_t> sizes, int outputs)
    : progress_(progress),
      outputs_(outputs),
      sizes_(std::move(sizes)),
      state_(sizes_.size()) {
  for (uint64_t size : sizes_) upload_total_ += size;
}

void SplitProgress::Upload(size_t k, uint64_t sent) {
  if (progress_ == nullptr) return;
  absl::MutexLock lock(&mu_);
  state_[k].sent = sent;
  uint64_t total = 0;
  for (const auto& s : state_) total += s.sent;
  progress_->OnUpload(total, upload_total_);
}

void SplitProgress::Accepted(size_t k, uint64_t estimate) {
  if (progress_ == nullptr) return;
  absl::MutexLock lock(&mu_);
  state_[k].estimate = estimate;
  progress_->OnAccepted(EstimateLocked(), outputs_);
}

void SplitProgress::Frames(size_t k, uint64_t done, uint64_t estimate,
                           double fps) {
  if (progress_ == nullptr) return;
  absl::MutexLock lock(&mu_);
  state_[k].done = done;
  if (estimate > 0) state_[k].estimate = estimate;
  state_[k].fps = fps;
  ReportFramesLocked();
}

void SplitProgress::Finished(size_t k, uint64_t frames) {
  if (progress_ == nullptr) return;
  absl::MutexLock lock(&mu_);
  state_[k].done = state_[k].estimate = frames;
  state_[k].fps = 0;
  state_[k].finished = true;
  ReportFramesLocked();
}

void SplitProgress::Bytes(uint64_t bytes) {
  if (progress_ != nullptr) progress_->OnOutputBytes(bytes);
}

void SplitProgress::Reset(size_t k) {
  if (progress_ == nullptr) return;
  absl::MutexLock lock(&mu_);
  const uint64_t estimate = state_[k].estimate;
  state_[k] = Segment();
  state_[k].estimate = estimate;
}

void SplitProgress::ReportFramesLocked() {
  uint64_t total_done = 0;
  double total_fps = 0;
  bool all_finished = true;
  for (const auto& s : state_) {
    total_done += s.done;
    total_fps += s.fps;
    all_finished = all_finished && s.finished;
  }
  const double seconds = absl::ToDoubleSeconds(absl::Now() - start_);
  if (all_finished && seconds > 0) total_fps = total_done / seconds;
  progress_->OnFrames(total_done, EstimateLocked(), total_fps);
}

uint64_t SplitProgress::EstimateLocked() const {
  // In double, and capped: the estimates are the server's numbers.
  double total = 0;
  uint64_t known_bytes = 0, unknown_bytes = 0;
  for (size_t k = 0; k < state_.size(); ++k) {
    total += static_cast<double>(state_[k].estimate);
    (state_[k].estimate > 0 ? known_bytes : unknown_bytes) += sizes_[k];
  }
  if (total > 0 && known_bytes > 0) {
    total += total * static_cast<double>(unknown_bytes) /
             static_cast<double>(known_bytes);
  }
  constexpr double kMost = 1e18;  // below 2^64, far above any movie
  return static_cast<uint64_t>(std::min(total, kMost));
}

void SegmentObserver::OnUploadProgress(uint64_t sent, uint64_t total) {
  progress_->Upload(k_, sent);
}

absl::Status SegmentObserver::OnAccepted(const stylizer::v1::JobAccepted& a) {
  if (check_model_) {
    if (absl::Status s = check_model_(a.archive_sha256()); !s.ok()) return s;
  }
  progress_->Accepted(k_, a.input().frames_estimate());
  return files_->OnAccepted(a);
}

void SegmentObserver::OnProgress(const stylizer::v1::Progress& p) {
  progress_->Frames(k_, p.frames_done(), p.frames_estimate(), p.fps());
}

absl::Status SegmentObserver::OnChunk(uint32_t index, absl::string_view data) {
  progress_->Bytes(data.size());
  return files_->OnChunk(index, data);
}

absl::Status SegmentObserver::OnSummary(const stylizer::v1::JobSummary& s) {
  for (const auto& o : s.outputs()) frames_ = std::max(frames_, o.frames());
  progress_->Finished(k_, frames_);
  const std::string segment = absl::StrCat("segment ", k_ + 1);
  if (const std::string warning = SkippedPacketsWarning(
          s, input_.empty() ? segment : absl::StrCat(input_, ": ", segment));
      !warning.empty()) {
    say_(warning);
  }
  return files_->OnSummary(s);
}

void SegmentObserver::OnRetry(const absl::Status& why, absl::Duration wait,
                              int retry) {
  say_(absl::StrCat("segment ", k_ + 1, ": retry ", retry, " in ",
                    absl::FormatDuration(wait), ": ", ErrorLine(why)));
}

}  // namespace stylizer::client
