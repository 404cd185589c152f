// Running one batch on a StyleModel as the job queue does: exceptions become
// INTERNAL, and a batch the device has no memory for is retried in halves
// (the buffers are contiguous, so a half is just an offset view).
#ifndef STYLIZER_SERVER_BATCHING_DEVICE_CALL_H_
#define STYLIZER_SERVER_BATCHING_DEVICE_CALL_H_

#include "absl/status/status.h"
#include "absl/types/span.h"
#include "server/model/style_model.h"

namespace stylizer {
namespace batching_internal {

// Runs `batch` on `model` and sets frame_status[i] (batch_size entries) to
// the outcome of frame i. On RESOURCE_EXHAUSTED with more than one frame,
// runs each half the same way, the first half, then the second: the frames
// that fit keep their results whatever the other half's outcome. Once a
// single frame does not fit, it and the frames not yet run (all of that
// size) fail with RESOURCE_EXHAUSTED without further calls: a batch of 16
// the device has no memory for costs 5 calls, not 31. Returns OK when every
// frame succeeded, else the first frame's failure. `num_styles` is the
// length of each style-weight row.
absl::Status RunOnDevice(StyleModel& model, const FrameBatch& batch,
                         int num_styles, absl::Span<absl::Status> frame_status);

}  // namespace batching_internal
}  // namespace stylizer

#endif  // STYLIZER_SERVER_BATCHING_DEVICE_CALL_H_
