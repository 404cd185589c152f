// RunOnDevice: one Stylize call, split in halves when the device runs out of
// memory.
#include "server/batching/device_call.h"

#include <exception>
#include <new>

#include "absl/strings/str_cat.h"

namespace stylizer {
namespace batching_internal {
namespace {

absl::Status CallModel(StyleModel& model, const FrameBatch& batch) {
  try {
    return model.Stylize(batch);
  } catch (const std::bad_alloc&) {
    // Out of memory, as a model that returns its own status says it: the
    // batch is halved (it failed whole, as INTERNAL).
    return absl::ResourceExhaustedError(
        "the model ran out of memory for the batch (std::bad_alloc)");
  } catch (const std::exception& e) {
    return absl::InternalError(
        absl::StrCat("model threw an exception: ", e.what()));
  } catch (...) {
    return absl::InternalError("model threw an exception");
  }
}

// RunOnDevice's recursion. `gave_up` is set once a single frame has not fit:
// the frames of the batch not yet run (all of that size) fail then without a
// call, rather than each going to the device to fail the same way.
absl::Status RunHalves(StyleModel& model, const FrameBatch& batch,
                       int num_styles, absl::Span<absl::Status> frame_status,
                       bool* gave_up) {
  if (*gave_up) {
    const absl::Status status = absl::ResourceExhaustedError(
        "the device has no memory for a frame of this size (another frame "
        "of the same batch did not fit alone)");
    for (absl::Status& frame : frame_status) frame = status;
    return status;
  }
  absl::Status status = CallModel(model, batch);
  if (status.code() != absl::StatusCode::kResourceExhausted ||
      batch.batch_size <= 1) {
    if (status.code() == absl::StatusCode::kResourceExhausted) *gave_up = true;
    for (absl::Status& frame : frame_status) frame = status;
    return status;
  }
  const int half = batch.batch_size / 2;
  FrameBatch first = batch;
  first.batch_size = half;
  FrameBatch second = batch;
  second.batch_size = batch.batch_size - half;
  second.input += half * batch.frame_bytes();
  second.output += half * batch.frame_bytes();
  second.style_weights += static_cast<size_t>(half) * num_styles;
  // The second half runs even when the first failed otherwise: a failure
  // of one half's frames is no reason to fail the other's.
  absl::Status first_status = RunHalves(model, first, num_styles,
                                        frame_status.subspan(0, half), gave_up);
  absl::Status second_status =
      RunHalves(model, second, num_styles, frame_status.subspan(half), gave_up);
  return first_status.ok() ? second_status : first_status;
}

}  // namespace

absl::Status RunOnDevice(StyleModel& model, const FrameBatch& batch,
                         int num_styles,
                         absl::Span<absl::Status> frame_status) {
  bool gave_up = false;
  return RunHalves(model, batch, num_styles, frame_status, &gave_up);
}

}  // namespace batching_internal
}  // namespace stylizer
