// FakeModel: the checkable per-byte transform plus the test hooks.
#include "server/batching/testing/fake_model.h"

#include <algorithm>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"

namespace stylizer {
namespace testing {

FakeModel::FakeModel(int num_styles) {
  desc_.name = "fake";
  for (int i = 0; i < num_styles; ++i) {
    desc_.style_names.push_back(absl::StrCat("style", i));
  }
  desc_.device = "cpu";
  desc_.precision = "fp32";
}

int FakeModel::StyleOf(absl::Span<const float> row) {
  return static_cast<int>(std::max_element(row.begin(), row.end()) -
                          row.begin());
}

uint8_t FakeModel::Expected(uint8_t in, absl::Span<const float> row) {
  return static_cast<uint8_t>(in + 1 + StyleOf(row));
}

absl::Status FakeModel::Stylize(const FrameBatch& batch) {
  const absl::Time start = absl::Now();
  const size_t frame_bytes = batch.frame_bytes();
  const int n = num_styles();
  Call call;
  call.batch_size = batch.batch_size;
  call.width = batch.width;
  call.height = batch.height;
  for (int b = 0; b < batch.batch_size; ++b) {
    call.first_bytes.push_back(batch.input[b * frame_bytes]);
    call.styles.push_back(StyleOf(absl::MakeConstSpan(
        batch.style_weights + static_cast<size_t>(b) * n, n)));
  }
  absl::Status failure;
  absl::Duration cost;
  {
    absl::MutexLock lock(&mu_);
    ++started_;
    ++running_;
    max_running_ = std::max(max_running_, running_);
    calls_.push_back(call);
    auto may_run = [this]() {
      mu_.AssertReaderHeld();
      return !held_ || passes_ > 0;
    };
    mu_.Await(absl::Condition(&may_run));
    if (held_) --passes_;
    if (!failures_.empty()) {
      failure = std::move(failures_.front());
      failures_.pop_front();
    }
    cost = base_cost_ + item_cost_ * batch.batch_size;
  }
  if (cost > absl::ZeroDuration()) absl::SleepFor(cost);
  if (failure.ok() && compute_outputs_) {
    for (int b = 0; b < batch.batch_size; ++b) {
      const uint8_t add = static_cast<uint8_t>(1 + call.styles[b]);
      const uint8_t* in = batch.input + b * frame_bytes;
      uint8_t* out = batch.output + b * frame_bytes;
      for (size_t i = 0; i < frame_bytes; ++i) {
        out[i] = static_cast<uint8_t>(in[i] + add);
      }
    }
  }
  absl::MutexLock lock(&mu_);
  --running_;
  busy_ += absl::Now() - start;
  return failure;
}

void FakeModel::Hold() {
  absl::MutexLock lock(&mu_);
  held_ = true;
}

void FakeModel::Release(int calls) {
  absl::MutexLock lock(&mu_);
  passes_ += calls;
}

void FakeModel::ReleaseAll() {
  absl::MutexLock lock(&mu_);
  held_ = false;
  passes_ = 0;
}

void FakeModel::WaitForCalls(int n) const {
  absl::MutexLock lock(&mu_);
  auto reached = [this, n]() {
    mu_.AssertReaderHeld();
    return started_ >= n;
  };
  mu_.Await(absl::Condition(&reached));
}

void FakeModel::FailNext(absl::Status status) {
  absl::MutexLock lock(&mu_);
  failures_.push_back(std::move(status));
}

void FakeModel::SetCost(absl::Duration base, absl::Duration per_item) {
  absl::MutexLock lock(&mu_);
  base_cost_ = base;
  item_cost_ = per_item;
}

std::vector<FakeModel::Call> FakeModel::calls() const {
  absl::MutexLock lock(&mu_);
  return calls_;
}

int FakeModel::calls_started() const {
  absl::MutexLock lock(&mu_);
  return started_;
}

absl::Duration FakeModel::busy_time() const {
  absl::MutexLock lock(&mu_);
  return busy_;
}

int FakeModel::max_concurrent_calls() const {
  absl::MutexLock lock(&mu_);
  return max_running_;
}

}  // namespace testing
}  // namespace stylizer
