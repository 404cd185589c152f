// A QueueObserver that passes events on to another only once opened: the
// server's start-up warm-up frame runs through the real queue but is not
// traffic, so the metrics see nothing of it.
#ifndef STYLIZER_SERVER_BATCHING_GATED_OBSERVER_H_
#define STYLIZER_SERVER_BATCHING_GATED_OBSERVER_H_

#include <atomic>
#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "server/batching/job_queue.h"

namespace stylizer {

class GatedObserver : public QueueObserver {
 public:
  // `next` may be null (then nothing is passed on); it must outlive this.
  explicit GatedObserver(QueueObserver* next) : next_(next) {}

  // From now on, events reach `next`. Thread-safe.
  void Open() { open_.store(true, std::memory_order_release); }

  void OnQueueDepth(int64_t items, int64_t bytes) override {
    if (Passes()) next_->OnQueueDepth(items, bytes);
  }
  void OnBatch(int batch_size, absl::Duration compute) override {
    if (Passes()) next_->OnBatch(batch_size, compute);
  }
  void OnItemDone(const std::vector<float>& style_weights,
                  absl::Duration queue_wait) override {
    if (Passes()) next_->OnItemDone(style_weights, queue_wait);
  }
  void OnItemDropped(const absl::Status& reason) override {
    if (Passes()) next_->OnItemDropped(reason);
  }

 private:
  bool Passes() const {
    return next_ != nullptr && open_.load(std::memory_order_acquire);
  }

  QueueObserver* const next_;
  std::atomic<bool> open_{false};
};

}  // namespace stylizer

#endif  // STYLIZER_SERVER_BATCHING_GATED_OBSERVER_H_
