// WorkPool: a fixed set of threads that run the service's CPU work (image
// decoding and encoding, response building) so that neither gRPC's callback
// threads nor the job queue's device workers ever do it.
//
// Its queue is bounded (kQueuedTasksPerThread tasks per thread) where new
// work enters: a new unary call's first task goes through TryPost, which
// parks it when the queue is full, and refuses with RESOURCE_EXHAUSTED and a
// retry hint only once kParkedTasksPerThread tasks per thread are parked too
// (a burst of callers waits its turn; only a backlog that would take long to
// drain is refused). A stream's next message goes through PostWhenRoom,
// which always parks it (the stream reads no further meanwhile, which pushes
// back on its client; the stream slots bound how many there are). Tasks of
// work already admitted (encoding a result, cancelling, cleaning up) go
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
  // Tasks per thread that TryPost parks behind a full queue before it
  // refuses. A parked unary call holds only its request message, which it
  // reserved in the memory budget before it was posted.
  static constexpr int kParkedTasksPerThread = 32;
  // The shortest retry hint TryPost gives: a client that retries sooner
  // finds the same backlog.
  static constexpr absl::Duration kMinRetryHint = absl::Milliseconds(250);

  // Starts `num_threads` threads (at least 1); the queue holds
  // `max_queued` tasks (0: kQueuedTasksPerThread per thread), and TryPost
  // parks up to `max_parked` more (-1: kParkedTasksPerThread per thread).
  explicit WorkPool(int num_threads, int max_queued = 0, int max_parked = -1);
  // Runs every task already posted or parked, then joins the threads.
  ~WorkPool();

  WorkPool(const WorkPool&) = delete;
  WorkPool& operator=(const WorkPool&) = delete;

  // Queues `task`, a continuation of work already admitted, even when the
  // queue is full. Never blocks for long.
  void Post(std::function<void()> task) ABSL_LOCKS_EXCLUDED(mu_);

  // Queues `task` if the queue has room, else parks it if fewer than
  // max_parked() tasks are parked; otherwise drops it and returns
  // RESOURCE_EXHAUSTED with "retry in about N ms" (N: the time the tasks
  // ahead need, at least kMinRetryHint). Never blocks.
  absl::Status TryPost(std::function<void()> task) ABSL_LOCKS_EXCLUDED(mu_);

  // Queues `task` if the queue has room; otherwise parks it until there is,
  // ahead of any later TryPost. Parked tasks run in the order they came.
  // Never blocks.
  void PostWhenRoom(std::function<void()> task) ABSL_LOCKS_EXCLUDED(mu_);

  int max_queued() const { return max_queued_; }
  int max_parked() const { return max_parked_; }
  // Tasks queued (not yet started) and parked now.
  int queued() const ABSL_LOCKS_EXCLUDED(mu_);
  int parked() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  void Loop() ABSL_LOCKS_EXCLUDED(mu_);

  const int max_queued_;
  const int max_parked_;
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
