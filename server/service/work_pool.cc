// A fixed thread pool with a bounded queue; see work_pool.h.
#include "server/service/work_pool.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "server/service/retry_info.h"

namespace stylizer {

WorkPool::WorkPool(int num_threads, int max_queued, int max_parked)
    : max_queued_(max_queued > 0
                      ? max_queued
                      : kQueuedTasksPerThread * std::max(1, num_threads)),
      max_parked_(max_parked >= 0
                      ? max_parked
                      : kParkedTasksPerThread * std::max(1, num_threads)) {
  num_threads = std::max(1, num_threads);
  threads_.reserve(num_threads);
  for (int i = 0; i < num_threads; ++i) {
    threads_.emplace_back([this] { Loop(); });
  }
}

WorkPool::~WorkPool() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  for (std::thread& t : threads_) t.join();
}

void WorkPool::Post(std::function<void()> task) {
  absl::MutexLock lock(&mu_);
  tasks_.push_back(std::move(task));
}

absl::Status WorkPool::TryPost(std::function<void()> task) {
  absl::MutexLock lock(&mu_);
  if (parked_.empty() && static_cast<int>(tasks_.size()) < max_queued_) {
    tasks_.push_back(std::move(task));
    return absl::OkStatus();
  }
  if (static_cast<int>(parked_.size()) < max_parked_) {
    parked_.push_back(std::move(task));
    return absl::OkStatus();
  }
  const int64_t waiting = static_cast<int64_t>(tasks_.size() + parked_.size());
  const int64_t threads = static_cast<int64_t>(threads_.size());
  // task_time_ averages every task, the many short continuations included,
  // so the drain estimate is low; the floor keeps the hint useful.
  const absl::Duration drain = task_time_ * ((waiting + threads - 1) / threads);
  const int64_t retry_ms =
      absl::ToInt64Milliseconds(std::max(drain, kMinRetryHint));
  return WithRetryDelay(
      absl::ResourceExhaustedError(absl::StrCat(
          "server is busy: ", waiting, " tasks are waiting for its ", threads,
          " worker threads (limit ", max_queued_ + max_parked_,
          "); retry in about ", retry_ms, " ms")),
      absl::Milliseconds(retry_ms));
}

void WorkPool::PostWhenRoom(std::function<void()> task) {
  absl::MutexLock lock(&mu_);
  if (parked_.empty() && static_cast<int>(tasks_.size()) < max_queued_) {
    tasks_.push_back(std::move(task));
  } else {
    parked_.push_back(std::move(task));
  }
}

int WorkPool::queued() const {
  absl::MutexLock lock(&mu_);
  return static_cast<int>(tasks_.size());
}

int WorkPool::parked() const {
  absl::MutexLock lock(&mu_);
  return static_cast<int>(parked_.size());
}

void WorkPool::Loop() {
  absl::Duration last = absl::ZeroDuration();
  while (true) {
    std::function<void()> task;
    {
      absl::MutexLock lock(&mu_);
      if (last > absl::ZeroDuration()) task_time_ = (task_time_ * 7 + last) / 8;
      mu_.Await(absl::Condition(
          +[](WorkPool* p) ABSL_EXCLUSIVE_LOCKS_REQUIRED(p->mu_) {
            return p->stopping_ || !p->tasks_.empty() || !p->parked_.empty();
          },
          this));
      if (tasks_.empty() && parked_.empty()) return;  // stopping, all done
      // A task leaves the queue: the oldest parked one takes its place.
      if (tasks_.empty() || (!parked_.empty() &&
                             static_cast<int>(tasks_.size()) <= max_queued_)) {
        tasks_.push_back(std::move(parked_.front()));
        parked_.pop_front();
      }
      task = std::move(tasks_.front());
      tasks_.pop_front();
    }
    const absl::Time start = absl::Now();
    task();
    task = nullptr;
    last = absl::Now() - start;
  }
}

}  // namespace stylizer
