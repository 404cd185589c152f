// WorkPool: a fixed set of threads that run the service's CPU work (image
// decoding and encoding, response building) so that neither gRPC's callback
// threads nor the job queue's device workers ever do it.
//
// Its queue is bounded (kQueuedTasksPerThread tasks per thread) where new
// work enters: a new unary call's first task goes through TryPost, which
// refuses with RESOURCE_EXHAUSTED and a retry hint when the queue is full; a
// stream's next message goes through PostWhenRoom, which parks it (the
// stream reads no further meanwhile, which pushes back on its client). Tasks
// of work already admitted (encoding a result, cancelling, cleaning up) go
// through Post, which never refuses, so an admitted call always completes.
#ifndef STYLIZER_SERVER_SERVICE_WORK_POOL_H_
#define STYLIZER_SERVER_SERVICE_WORK_POOL_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace stylizer {

class WorkPool {
 public:
  // Tasks that may wait in the queue per thread before TryPost refuses and
  // PostWhenRoom parks.
  static constexpr int kQueuedTasksPerThread = 4;

  // Starts `num_threads` threads (at least 1); the queue holds
  // `max_queued` tasks (0: kQueuedTasksPerThread per thread).
  explicit WorkPool(int num_threads, int max_queued = 0);
  // Runs every task already posted or parked, then joins the threads.
  ~WorkPool();

  WorkPool(const WorkPool&) = delete;
  WorkPool& operator=(const WorkPool&) = delete;

  // Queues `task`, a continuation of work already admitted, even when the
  // queue is full. Never blocks for long.
  void Post(std::function<void()> task) ABSL_LOCKS_EXCLUDED(mu_);

  // Queues `task` if the queue has room; otherwise drops it and returns
  // RESOURCE_EXHAUSTED with "retry in about N ms". Never blocks.
  absl::Status TryPost(std::function<void()> task) ABSL_LOCKS_EXCLUDED(mu_);

  // Queues `task` if the queue has room; otherwise parks it until there is,
  // ahead of any later TryPost. Parked tasks run in the order they came.
  // Never blocks.
  void PostWhenRoom(std::function<void()> task) ABSL_LOCKS_EXCLUDED(mu_);

  int max_queued() const { return max_queued_; }
  // Tasks queued (not yet started) and parked now.
  int queued() const ABSL_LOCKS_EXCLUDED(mu_);
  int parked() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  void Loop() ABSL_LOCKS_EXCLUDED(mu_);

  const int max_queued_;
  mutable absl::Mutex mu_;
  std::deque<std::function<void()>> tasks_ ABSL_GUARDED_BY(mu_);
  std::deque<std::function<void()>> parked_ ABSL_GUARDED_BY(mu_);
  // Smoothed run time of a task, for the retry hint.
  absl::Duration task_time_ ABSL_GUARDED_BY(mu_) = absl::Milliseconds(5);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;
};

}  // namespace stylizer

#endif  // STYLIZER_SERVER_SERVICE_WORK_POOL_H_
