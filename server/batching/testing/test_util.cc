// Tagged frames, style rows and the result log for the job queue's tests.
#include "server/batching/testing/test_util.h"

#include <utility>

#include "server/batching/testing/fake_model.h"

namespace stylizer {
namespace testing {

std::shared_ptr<const RgbFrame> TaggedFrame(int width, int height,
                                            uint8_t tag) {
  auto frame = std::make_shared<RgbFrame>();
  frame->width = width;
  frame->height = height;
  frame->pixels.resize(static_cast<size_t>(width) * height * 3);
  for (size_t i = 0; i < frame->pixels.size(); ++i) {
    frame->pixels[i] = static_cast<uint8_t>(tag + i);
  }
  return frame;
}

std::vector<float> OneHot(int num_styles, int style) {
  std::vector<float> row(num_styles, 0.0f);
  row[style] = 1.0f;
  return row;
}

FrameRequest MakeRequest(int width, int height, uint8_t tag,
                         const std::vector<int>& styles, int num_styles,
                         uint64_t sequence) {
  FrameRequest request;
  request.frame = TaggedFrame(width, height, tag);
  for (int style : styles) {
    request.style_weights.push_back(OneHot(num_styles, style));
  }
  request.sequence = sequence;
  return request;
}

bool OutputsMatch(const FrameResult& result, int width, int height, uint8_t tag,
                  const std::vector<int>& styles, int num_styles) {
  if (!result.status.ok() || result.outputs.size() != styles.size()) {
    return false;
  }
  for (size_t r = 0; r < styles.size(); ++r) {
    const RgbFrame& out = result.outputs[r];
    if (out.width != width || out.height != height ||
        out.pixels.size() != static_cast<size_t>(width) * height * 3) {
      return false;
    }
    const std::vector<float> row = OneHot(num_styles, styles[r]);
    for (size_t i = 0; i < out.pixels.size(); ++i) {
      if (out.pixels[i] !=
          FakeModel::Expected(static_cast<uint8_t>(tag + i), row)) {
        return false;
      }
    }
  }
  return true;
}

std::function<void(FrameResult)> ResultLog::on_result() {
  return [this](FrameResult result) {
    absl::MutexLock lock(&mu_);
    results_.push_back(std::move(result));
    threads_.push_back(std::this_thread::get_id());
  };
}

void ResultLog::WaitFor(size_t n) const {
  absl::MutexLock lock(&mu_);
  auto enough = [this, n]() {
    mu_.AssertReaderHeld();
    return results_.size() >= n;
  };
  mu_.Await(absl::Condition(&enough));
}

std::vector<FrameResult> ResultLog::results() const {
  absl::MutexLock lock(&mu_);
  return results_;
}

size_t ResultLog::size() const {
  absl::MutexLock lock(&mu_);
  return results_.size();
}

std::vector<std::thread::id> ResultLog::threads() const {
  absl::MutexLock lock(&mu_);
  return threads_;
}

}  // namespace testing
}  // namespace stylizer
