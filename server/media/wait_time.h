// Time the calling thread has spent blocked on another party: bytes a
// client has not uploaded yet (Spool::Read), a client that reads its output
// slowly (the video reactor's back-pressure). The pipeline's per-frame
// decode and encode times (stylizer_decode_seconds, _encode_seconds) leave
// it out, so that they measure the work and not the network.
#ifndef STYLIZER_SERVER_MEDIA_WAIT_TIME_H_
#define STYLIZER_SERVER_MEDIA_WAIT_TIME_H_

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace stylizer::media {

namespace internal {
inline thread_local absl::Duration thread_wait_time;
}  // namespace internal

// The total so far on this thread; subtract two readings for an interval.
inline absl::Duration ThreadWaitTime() { return internal::thread_wait_time; }

// Adds its lifetime to this thread's wait time: put one around a blocking
// wait for another party.
class ScopedWait {
 public:
  ScopedWait() : start_(absl::Now()) {}
  ~ScopedWait() { internal::thread_wait_time += absl::Now() - start_; }
  ScopedWait(const ScopedWait&) = delete;
  ScopedWait& operator=(const ScopedWait&) = delete;

 private:
  const absl::Time start_;
};

}  // namespace stylizer::media

#endif  // STYLIZER_SERVER_MEDIA_WAIT_TIME_H_
