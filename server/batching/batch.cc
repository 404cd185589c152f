// Assembling a batch's contiguous input and copying its outputs back out.
#include "server/batching/batch.h"

#include <cstring>
#include <utility>
#include <vector>

namespace stylizer {
namespace batching_internal {

namespace {

// Frees a buffer that is much bigger than its last use (after a job of large
// frames), so that idle batches do not pin memory; keeps it otherwise.
template <typename T>
void TrimBuffer(std::vector<T>* buffer) {
  if (buffer->size() * 4 < buffer->capacity()) {
    std::vector<T>().swap(*buffer);
  }
}

}  // namespace

void Batch::Clear() {
  TrimBuffer(&input);
  TrimBuffer(&output);
  TrimBuffer(&weights);
  id = 0;
  width = 0;
  height = 0;
  items.clear();
  status = absl::OkStatus();
  item_status.clear();
  compute = absl::ZeroDuration();
}

void Batch::AssembleInput(int num_styles) {
  const size_t frame_bytes = static_cast<size_t>(width) * height * 3;
  input.resize(frame_bytes * items.size());
  output.resize(frame_bytes * items.size());
  weights.resize(static_cast<size_t>(num_styles) * items.size());
  for (size_t i = 0; i < items.size(); ++i) {
    const FrameState& frame = *items[i].frame;
    std::memcpy(input.data() + i * frame_bytes, frame.frame->pixels.data(),
                frame_bytes);
    const std::vector<float>& row = frame.style_weights[items[i].row];
    std::memcpy(weights.data() + i * num_styles, row.data(),
                sizeof(float) * num_styles);
  }
}

std::vector<Item> Batch::RemoveItems(const std::vector<bool>& remove,
                                     int num_styles) {
  const size_t frame_bytes = static_cast<size_t>(width) * height * 3;
  std::vector<Item> removed;
  size_t kept = 0;
  for (size_t i = 0; i < items.size(); ++i) {
    if (remove[i]) {
      removed.push_back(std::move(items[i]));
      continue;
    }
    if (kept != i) {
      items[kept] = std::move(items[i]);
      std::memmove(input.data() + kept * frame_bytes,
                   input.data() + i * frame_bytes, frame_bytes);
      std::memmove(weights.data() + kept * num_styles,
                   weights.data() + i * num_styles, sizeof(float) * num_styles);
    }
    ++kept;
  }
  items.resize(kept);
  input.resize(frame_bytes * kept);
  output.resize(frame_bytes * kept);
  weights.resize(static_cast<size_t>(num_styles) * kept);
  return removed;
}

FrameBatch Batch::View() {
  FrameBatch view;
  view.batch_size = static_cast<int>(items.size());
  view.height = height;
  view.width = width;
  view.input = input.data();
  view.style_weights = weights.data();
  view.output = output.data();
  return view;
}

RgbFrame Batch::CopyOutput(size_t i) const {
  const size_t frame_bytes = static_cast<size_t>(width) * height * 3;
  RgbFrame out;
  out.width = width;
  out.height = height;
  out.pixels.assign(output.begin() + i * frame_bytes,
                    output.begin() + (i + 1) * frame_bytes);
  return out;
}

}  // namespace batching_internal
}  // namespace stylizer
