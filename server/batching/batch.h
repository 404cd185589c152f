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
  // Outcome of Stylize and the device time it took.
  absl::Status status;
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

  // Copies item `i`'s output out of the output buffer.
  RgbFrame CopyOutput(size_t i) const;
};

}  // namespace batching_internal
}  // namespace stylizer

#endif  // STYLIZER_SERVER_BATCHING_BATCH_H_
