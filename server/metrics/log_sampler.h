// Lets at most so many log lines a second through, counting the rest: a
// client refused at the door (no token, a wrong one) can open calls as fast
// as the network carries them, and each refusal wrote a warning line (one
// connection resetting its streams at once made 20000 lines a second, 4 MB/s
// of logs, burying everything else). The calls are still counted in the
// metrics.
#ifndef STYLIZER_SERVER_METRICS_LOG_SAMPLER_H_
#define STYLIZER_SERVER_METRICS_LOG_SAMPLER_H_

#include <cstdint>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace stylizer {

class LogSampler {
 public:
  // `per_second` lines a second, in bursts of up to as many.
  explicit LogSampler(int per_second);

  // Whether a line may be written at `now`. When it may, `*left_out` is the
  // number of lines left out since the last one written (to say so in it).
  bool Admit(absl::Time now, int64_t* left_out) ABSL_LOCKS_EXCLUDED(mu_);

 private:
  const double per_second_;
  absl::Mutex mu_;
  double tokens_ ABSL_GUARDED_BY(mu_);
  absl::Time last_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  int64_t left_out_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace stylizer

#endif  // STYLIZER_SERVER_METRICS_LOG_SAMPLER_H_
