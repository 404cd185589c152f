// RunOnDevice: one Stylize call, split in halves when the device runs out of
// memory.
#include "server/batching/device_call.h"

#include <exception>

#include "absl/strings/str_cat.h"

namespace stylizer {
namespace batching_internal {
namespace {

absl::Status CallModel(StyleModel& model, const FrameBatch& batch) {
  try {
    return model.Stylize(batch);
  } catch (const std::exception& e) {
    return absl::InternalError(
        absl::StrCat("model threw an exception: ", e.what()));
  } catch (...) {
    return absl::InternalError("model threw an exception");
  }
}

}  // namespace

absl::Status RunOnDevice(StyleModel& model, const FrameBatch& batch,
                         int num_styles,
                         absl::Span<absl::Status> frame_status) {
  absl::Status status = CallModel(model, batch);
  if (status.code() != absl::StatusCode::kResourceExhausted ||
      batch.batch_size <= 1) {
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
  // The second half runs even when the first did not fit: they are frames
  // of other callers, and the memory may be free again.
  absl::Status first_status =
      RunOnDevice(model, first, num_styles, frame_status.subspan(0, half));
  absl::Status second_status =
      RunOnDevice(model, second, num_styles, frame_status.subspan(half));
  return first_status.ok() ? second_status : first_status;
}

}  // namespace batching_internal
}  // namespace stylizer
