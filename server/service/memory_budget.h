// MemoryBudget: one bound on the bytes the server holds for its callers
// (--memory_budget_bytes). Components reserve what they are about to hold
// (decoded frames, results waiting to be sent) and release it when done; a
// reservation past the budget fails with RESOURCE_EXHAUSTED and a retry hint,
// so an overloaded server refuses work instead of being killed for memory. A
// call that needs more than the budget can ever give it is refused without
// a hint: retrying cannot help (retry_info.h).
#ifndef STYLIZER_SERVER_SERVICE_MEMORY_BUDGET_H_
#define STYLIZER_SERVER_SERVICE_MEMORY_BUDGET_H_

#include <cstdint>
#include <functional>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"

namespace stylizer {

class MemoryBudget {
 public:
  // Bytes held under one reservation; given back when destroyed (or on
  // Release()). Move-only. A default-constructed one holds nothing.
  class Reservation {
   public:
    Reservation() = default;
    ~Reservation() { Release(); }
    Reservation(Reservation&& other) noexcept;
    Reservation& operator=(Reservation&& other) noexcept;
    Reservation(const Reservation&) = delete;
    Reservation& operator=(const Reservation&) = delete;

    int64_t bytes() const { return bytes_; }
    // Gives the bytes back now.
    void Release();

   private:
    friend class MemoryBudget;
    Reservation(MemoryBudget* budget, int64_t bytes)
        : budget_(budget), bytes_(bytes) {}
    MemoryBudget* budget_ = nullptr;
    int64_t bytes_ = 0;
  };

  // Told the bytes reserved after every reservation and release (under the
  // budget's lock, so calls come in order): must be quick and must not call
  // back into the budget. For the stylizer_memory_reserved_bytes gauge.
  using Observer = std::function<void(int64_t reserved_bytes)>;

  // `capacity_bytes` > 0. The budget must outlive its reservations.
  explicit MemoryBudget(int64_t capacity_bytes, Observer observer = nullptr);
  MemoryBudget(const MemoryBudget&) = delete;
  MemoryBudget& operator=(const MemoryBudget&) = delete;

  // Reserves `bytes` (>= 0) for `what` (said in the error, e.g. "a 1920x1080
  // frame with 4 styles"). RESOURCE_EXHAUSTED when the budget cannot hold
  // them now: with a retry hint while other calls hold what is missing,
  // without one (and "send less at once") when `bytes` and the
  // `held_by_caller` bytes the same call already holds exceed all that is
  // not set aside.
  absl::StatusOr<Reservation> Reserve(int64_t bytes, absl::string_view what,
                                      int64_t held_by_caller = 0)
      ABSL_LOCKS_EXCLUDED(mu_);

  // Holds `bytes` for good for `what` (gRPC's buffer quota): no call can
  // have them. RESOURCE_EXHAUSTED when they do not fit.
  absl::Status SetAside(int64_t bytes, absl::string_view what)
      ABSL_LOCKS_EXCLUDED(mu_);

  int64_t capacity() const { return capacity_; }
  // Bytes reserved now.
  int64_t reserved() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  void Give(int64_t bytes) ABSL_LOCKS_EXCLUDED(mu_);

  const int64_t capacity_;
  const Observer observer_;
  mutable absl::Mutex mu_;
  int64_t reserved_ ABSL_GUARDED_BY(mu_) = 0;  // set aside included
  int64_t set_aside_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace stylizer

#endif  // STYLIZER_SERVER_SERVICE_MEMORY_BUDGET_H_
