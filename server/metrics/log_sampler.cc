// A token bucket for log lines; see log_sampler.h.
#include "server/metrics/log_sampler.h"

#include <algorithm>

namespace stylizer {

LogSampler::LogSampler(int per_second)
    : per_second_(std::max(1, per_second)), tokens_(per_second_) {}

bool LogSampler::Admit(absl::Time now, int64_t* left_out) {
  absl::MutexLock lock(&mu_);
  if (last_ != absl::InfinitePast() && now > last_) {
    tokens_ =
        std::min(per_second_,
                 tokens_ + absl::ToDoubleSeconds(now - last_) * per_second_);
  }
  last_ = std::max(last_, now);
  if (tokens_ < 1) {
    ++left_out_;
    return false;
  }
  tokens_ -= 1;
  *left_out = left_out_;
  left_out_ = 0;
  return true;
}

}  // namespace stylizer
