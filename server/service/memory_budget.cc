// The server's memory budget; see memory_budget.h.
#include "server/service/memory_budget.h"

#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "server/service/retry_info.h"

namespace stylizer {
namespace {

// The retry hint of a spent budget: reservations are released as calls end,
// typically within seconds.
constexpr absl::Duration kSpentRetryDelay = absl::Seconds(2);

}  // namespace

MemoryBudget::Reservation::Reservation(Reservation&& other) noexcept
    : budget_(std::exchange(other.budget_, nullptr)),
      bytes_(std::exchange(other.bytes_, 0)) {}

MemoryBudget::Reservation& MemoryBudget::Reservation::operator=(
    Reservation&& other) noexcept {
  if (this != &other) {
    Release();
    budget_ = std::exchange(other.budget_, nullptr);
    bytes_ = std::exchange(other.bytes_, 0);
  }
  return *this;
}

void MemoryBudget::Reservation::Release() {
  if (budget_ != nullptr) budget_->Give(bytes_);
  budget_ = nullptr;
  bytes_ = 0;
}

MemoryBudget::MemoryBudget(int64_t capacity_bytes, Observer observer)
    : capacity_(capacity_bytes), observer_(std::move(observer)) {}

absl::StatusOr<MemoryBudget::Reservation> MemoryBudget::Reserve(
    int64_t bytes, absl::string_view what, int64_t held_by_caller) {
  if (bytes < 0 || held_by_caller < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "negative memory reservation (", bytes, ", ", held_by_caller, ")"));
  }
  absl::MutexLock lock(&mu_);
  if (bytes > capacity_ - reserved_) {
    // What one call could ever have: everything not set aside for good.
    const int64_t most = capacity_ - set_aside_;
    if (bytes > most - held_by_caller) {
      return absl::ResourceExhaustedError(absl::StrCat(
          what, " needs ", bytes, " bytes",
          held_by_caller > 0 ? absl::StrCat(" beside the ", held_by_caller,
                                            " this call already holds")
                             : "",
          ", more than the ", most,
          " bytes of this server's whole memory "
          "budget (",
          capacity_, " bytes, ", set_aside_,
          " of them set aside) that one call can have; send less at once"));
    }
    return WithRetryDelay(
        absl::ResourceExhaustedError(absl::StrCat(
            "the server's memory budget is spent (", reserved_, " of ",
            capacity_, " bytes held for calls; ", what, " needs ", bytes,
            "); retry in a few seconds or on another replica")),
        kSpentRetryDelay);
  }
  reserved_ += bytes;
  if (observer_) observer_(reserved_);
  return Reservation(this, bytes);
}

absl::Status MemoryBudget::SetAside(int64_t bytes, absl::string_view what) {
  absl::MutexLock lock(&mu_);
  if (bytes < 0 || bytes > capacity_ - reserved_) {
    return absl::ResourceExhaustedError(
        absl::StrCat("cannot set aside ", bytes, " bytes for ", what,
                     " in a memory budget of ", capacity_, " bytes (",
                     reserved_, " reserved)"));
  }
  reserved_ += bytes;
  set_aside_ += bytes;
  if (observer_) observer_(reserved_);
  return absl::OkStatus();
}

int64_t MemoryBudget::reserved() const {
  absl::MutexLock lock(&mu_);
  return reserved_;
}

void MemoryBudget::Give(int64_t bytes) {
  absl::MutexLock lock(&mu_);
  reserved_ -= bytes;
  if (observer_) observer_(reserved_);
}

}  // namespace stylizer
