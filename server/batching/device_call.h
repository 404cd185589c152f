// Running one batch on a StyleModel as the job queue does: exceptions become
// INTERNAL, and a batch the device has no memory for is retried in halves
// (the buffers are contiguous, so a half is just an offset view).
#ifndef STYLIZER_SERVER_BATCHING_DEVICE_CALL_H_
#define STYLIZER_SERVER_BATCHING_DEVICE_CALL_H_

#include "absl/status/status.h"
#include "server/model/style_model.h"

namespace stylizer {
namespace batching_internal {

// Runs `batch` on `model`. On RESOURCE_EXHAUSTED with more than one frame,
// runs each half the same way; a single frame that does not fit fails with
// RESOURCE_EXHAUSTED. `num_styles` is the length of each style-weight row.
absl::Status RunOnDevice(StyleModel& model, const FrameBatch& batch,
                         int num_styles);

}  // namespace batching_internal
}  // namespace stylizer

#endif  // STYLIZER_SERVER_BATCHING_DEVICE_CALL_H_
