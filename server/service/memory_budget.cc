// The server's memory budget; see memory_budget.h.
#include "server/service/memory_budget.h"

#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace stylizer {

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
    int64_t bytes, absl::string_view what) {
  if (bytes < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("negative memory reservation (", bytes, ")"));
  }
  absl::MutexLock lock(&mu_);
  if (bytes > capacity_ - reserved_) {
    if (bytes > capacity_) {
      return absl::ResourceExhaustedError(
          absl::StrCat(what, " needs ", bytes,
                       " bytes, more than this server's whole "
                       "memory budget of ",
                       capacity_, " bytes; send less at once"));
    }
    return absl::ResourceExhaustedError(
        absl::StrCat("the server's memory budget is spent (", reserved_, " of ",
                     capacity_, " bytes held for calls; ", what, " needs ",
                     bytes, "); retry in a few seconds or on another replica"));
  }
  reserved_ += bytes;
  if (observer_) observer_(reserved_);
  return Reservation(this, bytes);
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
