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
                         int num_styles) {
  absl::Status status = CallModel(model, batch);
  if (status.code() != absl::StatusCode::kResourceExhausted ||
      batch.batch_size <= 1) {
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
  status = RunOnDevice(model, first, num_styles);
  if (!status.ok()) return status;
  return RunOnDevice(model, second, num_styles);
}

}  // namespace batching_internal
}  // namespace stylizer
