// The floor under a StylizeVideo upload's speed (--upload_min_rate). The idle
// timer ends a client that sends nothing; one that sends a byte every few
// seconds kept its stream slot, and the spool disk its input_size took,
// for as long as it liked. Only the time the server spends waiting for the
// upload counts (a read outstanding): while the server holds the upload
// back (its job is behind, its answers are not taken) the client owes
// nothing. In every window of that waiting time the client must have sent
// at least the floor's bytes for it, as web servers ask of request bodies
// (Apache's MinRate, Kestrel's MinRequestBodyDataRate).
#ifndef STYLIZER_SERVER_SERVICE_UPLOAD_PACE_H_
#define STYLIZER_SERVER_SERVICE_UPLOAD_PACE_H_

#include <cstdint>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace stylizer {

class UploadPace {
 public:
  // `min_bytes_per_second` 0 or a window that is zero or infinite: no floor.
  UploadPace(uint64_t min_bytes_per_second, absl::Duration window);

  // A message with `bytes` of the upload came after the server had waited
  // `waited` for it. DEADLINE_EXCEEDED once a whole window of waiting
  // brought fewer bytes than the floor asks for that time; then the window
  // starts again.
  absl::Status Add(uint64_t bytes, absl::Duration waited);

 private:
  const uint64_t min_bytes_per_second_;
  const absl::Duration window_;
  absl::Duration waited_ = absl::ZeroDuration();  // in this window
  uint64_t bytes_ = 0;                            // in this window
};

}  // namespace stylizer

#endif  // STYLIZER_SERVER_SERVICE_UPLOAD_PACE_H_
