// ThreadSanitizer support for the prebuilt (uninstrumented) Abseil library:
// linked only into ThreadSanitizer builds of the job queue's tests
// (scripts/test.d/20-tsan-batching.sh). Abseil annotates absl::Mutex for
// ThreadSanitizer only when Abseil itself is compiled with it; the system's
// shared library is not, so every lock would look like no synchronisation at
// all. These definitions take the place of the library's absl::Mutex entry
// points (the executable's symbols win over the shared library's), call the
// originals, and add the happens-before edges: acquire after locking, release
// before unlocking, and both around evaluating a Condition (which Abseil
// may evaluate on the thread that unlocks).
#include <dlfcn.h>
#include <sanitizer/tsan_interface.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "absl/base/config.h"
#include "absl/base/macros.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

#if !ABSL_OPTION_USE_INLINE_NAMESPACE
#error "expects Abseil's inline namespace in symbol names"
#endif

namespace {

// The original symbol `rest` of absl::<inline namespace>.
void* Original(const char* rest) {
  const char* ns = ABSL_INTERNAL_TOKEN_STR(ABSL_OPTION_INLINE_NAMESPACE_NAME);
  const std::string name =
      "_ZN4absl" + std::to_string(std::strlen(ns)) + ns + rest;
  void* fn = dlsym(RTLD_NEXT, name.c_str());
  if (fn == nullptr) {
    std::fprintf(stderr, "tsan_absl_mutex: %s not found\n", name.c_str());
    std::abort();
  }
  return fn;
}

template <typename F>
F Resolve(const char* rest) {
  return reinterpret_cast<F>(Original(rest));
}

using Mutex = absl::Mutex;
using Condition = absl::Condition;

// Evaluates the caller's Condition as a critical section of its own:
// acquires everything released under the mutex so far, and releases what the
// evaluation read to whoever locks next (Abseil may evaluate it on any
// thread that holds the mutex, before or after the annotated unlock).
struct AcquiringCondition {
  Mutex* mu;
  const Condition* cond;
  bool operator()() const {
    __tsan_acquire(mu);
    const bool result = cond->Eval();
    __tsan_release(mu);
    return result;
  }
};

// Abseil's lock-order graph lives behind its own (uninstrumented) spinlock;
// ThreadSanitizer has its own deadlock detection, so switch Abseil's off.
const bool kAbslDeadlockGraphOff = [] {
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  return true;
}();

}  // namespace

namespace absl {
ABSL_NAMESPACE_BEGIN

void Mutex::Lock() {
  static auto real = Resolve<void (*)(Mutex*)>("5Mutex4LockEv");
  real(this);
  __tsan_acquire(this);
}

bool Mutex::TryLock() {
  static auto real = Resolve<bool (*)(Mutex*)>("5Mutex7TryLockEv");
  const bool locked = real(this);
  if (locked) __tsan_acquire(this);
  return locked;
}

void Mutex::Unlock() {
  static auto real = Resolve<void (*)(Mutex*)>("5Mutex6UnlockEv");
  __tsan_release(this);
  real(this);
}

void Mutex::ReaderLock() {
  static auto real = Resolve<void (*)(Mutex*)>("5Mutex10ReaderLockEv");
  real(this);
  __tsan_acquire(this);
}

void Mutex::ReaderUnlock() {
  static auto real = Resolve<void (*)(Mutex*)>("5Mutex12ReaderUnlockEv");
  __tsan_release(this);
  real(this);
}

void Mutex::Await(const Condition& cond) {
  static auto real = Resolve<void (*)(Mutex*, const Condition&)>(
      "5Mutex5AwaitERKNS0_9ConditionE");
  AcquiringCondition wrapped{this, &cond};
  __tsan_release(this);
  real(this, Condition(&wrapped));
  __tsan_acquire(this);
}

bool Mutex::AwaitWithDeadline(const Condition& cond, absl::Time deadline) {
  static auto real = Resolve<bool (*)(Mutex*, const Condition&, absl::Time)>(
      "5Mutex17AwaitWithDeadlineERKNS0_9ConditionENS0_4TimeE");
  AcquiringCondition wrapped{this, &cond};
  __tsan_release(this);
  const bool result = real(this, Condition(&wrapped), deadline);
  __tsan_acquire(this);
  return result;
}

bool Mutex::AwaitWithTimeout(const Condition& cond, absl::Duration timeout) {
  static auto real =
      Resolve<bool (*)(Mutex*, const Condition&, absl::Duration)>(
          "5Mutex16AwaitWithTimeoutERKNS0_9ConditionENS0_8DurationE");
  AcquiringCondition wrapped{this, &cond};
  __tsan_release(this);
  const bool result = real(this, Condition(&wrapped), timeout);
  __tsan_acquire(this);
  return result;
}

void Mutex::LockWhen(const Condition& cond) {
  static auto real = Resolve<void (*)(Mutex*, const Condition&)>(
      "5Mutex8LockWhenERKNS0_9ConditionE");
  AcquiringCondition wrapped{this, &cond};
  real(this, Condition(&wrapped));
  __tsan_acquire(this);
}

bool Mutex::LockWhenWithDeadline(const Condition& cond, absl::Time deadline) {
  static auto real = Resolve<bool (*)(Mutex*, const Condition&, absl::Time)>(
      "5Mutex20LockWhenWithDeadlineERKNS0_9ConditionENS0_4TimeE");
  AcquiringCondition wrapped{this, &cond};
  const bool result = real(this, Condition(&wrapped), deadline);
  __tsan_acquire(this);
  return result;
}

bool Mutex::LockWhenWithTimeout(const Condition& cond, absl::Duration timeout) {
  static auto real =
      Resolve<bool (*)(Mutex*, const Condition&, absl::Duration)>(
          "5Mutex19LockWhenWithTimeoutERKNS0_9ConditionENS0_8DurationE");
  AcquiringCondition wrapped{this, &cond};
  const bool result = real(this, Condition(&wrapped), timeout);
  __tsan_acquire(this);
  return result;
}

ABSL_NAMESPACE_END
}  // namespace absl
