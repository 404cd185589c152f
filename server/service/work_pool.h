// WorkPool: a fixed set of threads that run the service's CPU work (image
// decoding and encoding, response building) so that neither gRPC's callback
// threads nor the job queue's device workers ever do it.
#ifndef STYLIZER_SERVER_SERVICE_WORK_POOL_H_
#define STYLIZER_SERVER_SERVICE_WORK_POOL_H_

#include <deque>
#include <functional>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace stylizer {

class WorkPool {
 public:
  // Starts `num_threads` threads (at least 1).
  explicit WorkPool(int num_threads);
  // Runs every task already posted, then joins the threads.
  ~WorkPool();

  WorkPool(const WorkPool&) = delete;
  WorkPool& operator=(const WorkPool&) = delete;

  // Queues `task` to run on a pool thread. Never blocks for long.
  void Post(std::function<void()> task) ABSL_LOCKS_EXCLUDED(mu_);

 private:
  void Loop() ABSL_LOCKS_EXCLUDED(mu_);

  absl::Mutex mu_;
  std::deque<std::function<void()>> tasks_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;
};

}  // namespace stylizer

#endif  // STYLIZER_SERVER_SERVICE_WORK_POOL_H_
