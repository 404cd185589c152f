// One device batch as the job queue handles it: the items it took from the
// queue, the contiguous input and style-weight buffers handed to
// StyleModel::Stylize, and the output buffer the results are copied from.
// Buffers are reused from batch to batch.
#ifndef STYLIZER_SERVER_BATCHING_BATCH_H_
#define STYLIZER_SERVER_BATCHING_BATCH_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "server/batching/job_queue.h"
#include "server/batching/job_state.h"
#include "server/model/style_model.h"

namespace stylizer {
namespace batching_internal {

struct Batch {
  uint64_t id = 0;
  int width = 0;
  int height = 0;
  std::vector<Item> items;
  std::vector<uint8_t> input;
  std::vector<uint8_t> output;
  std::vector<float> weights;
  // When the batch left the queue, then when the device started it: the end
  // of its items' queue wait.
  absl::Time closed;
  // Outcome of the batch and the device time it took. When the device ran
  // it, item_status holds each item's own outcome (a batch split after an
  // out-of-memory can partly succeed) and `status` the first failure; when
  // the batch failed as a whole (cancelled, expired) item_status is empty.
  absl::Status status;
  std::vector<absl::Status> item_status;
  absl::Duration compute;

  // Empties the batch, keeping the buffers' memory unless the last batch
  // used under a quarter of it.
  void Clear();

  // Copies every item's pixels and style-weight row into the contiguous
  // input and weight buffers (num_styles weights per row).
  void AssembleInput(int num_styles);

  // Removes the items whose `remove` flag is set, compacting the assembled
  // input and weight buffers (num_styles weights per row), and returns them
  // in order.
  std::vector<Item> RemoveItems(const std::vector<bool>& remove,
                                int num_styles);

  // The StyleModel view of the buffers.
  FrameBatch View();

  // Item `i`'s outcome.
  const absl::Status& ItemStatus(size_t i) const {
    return item_status.empty() ? status : item_status[i];
  }

  // Copies item `i`'s output out of the output buffer.
  RgbFrame CopyOutput(size_t i) const;
};

}  // namespace batching_internal
}  // namespace stylizer

#endif  // STYLIZER_SERVER_BATCHING_BATCH_H_
