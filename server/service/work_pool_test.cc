// Tests of the work pool's bounded queue: TryPost refuses when it is full,
// PostWhenRoom parks and runs in order, Post always queues.
#include "server/service/work_pool.h"

#include <atomic>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace stylizer {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// Records the order tasks ran in.
class RunLog {
 public:
  std::function<void()> Task(std::string name) {
    return [this, name] {
      absl::MutexLock lock(&mu_);
      names_.push_back(name);
    };
  }
  std::vector<std::string> names() {
    absl::MutexLock lock(&mu_);
    return names_;
  }

 private:
  absl::Mutex mu_;
  std::vector<std::string> names_;
};

// Occupies the pool's only thread until Release.
class Blocker {
 public:
  explicit Blocker(WorkPool* pool) {
    pool->Post([this] {
      running_.Notify();
      release_.WaitForNotification();
    });
    running_.WaitForNotification();
  }
  void Release() { release_.Notify(); }

 private:
  absl::Notification running_, release_;
};

TEST(WorkPoolTest, QueueSizeIsTiedToThreads) {
  WorkPool pool(3);
  EXPECT_EQ(pool.max_queued(), 3 * WorkPool::kQueuedTasksPerThread);
  WorkPool sized(2, 5);
  EXPECT_EQ(sized.max_queued(), 5);
}

TEST(WorkPoolTest, TryPostRefusesWhenFullWithRetryHint) {
  RunLog log;
  {
    WorkPool pool(1, 2);
    Blocker blocker(&pool);
    EXPECT_TRUE(pool.TryPost(log.Task("a")).ok());
    EXPECT_TRUE(pool.TryPost(log.Task("b")).ok());
    absl::Status full = pool.TryPost(log.Task("refused"));
    EXPECT_EQ(full.code(), absl::StatusCode::kResourceExhausted);
    EXPECT_THAT(full.message(), HasSubstr("retry in about"));
    EXPECT_THAT(full.message(), HasSubstr("2 tasks are waiting"));
    EXPECT_EQ(pool.queued(), 2);
    blocker.Release();
  }  // the destructor runs what was queued
  EXPECT_THAT(log.names(), ElementsAre("a", "b"));
}

TEST(WorkPoolTest, PostWhenRoomParksAndRunsInOrderBeforeLaterTryPosts) {
  RunLog log;
  {
    WorkPool pool(1, 2);
    Blocker blocker(&pool);
    ASSERT_TRUE(pool.TryPost(log.Task("a")).ok());
    ASSERT_TRUE(pool.TryPost(log.Task("b")).ok());
    pool.PostWhenRoom(log.Task("stream 1"));
    pool.PostWhenRoom(log.Task("stream 2"));
    EXPECT_EQ(pool.parked(), 2);
    EXPECT_EQ(pool.queued(), 2);
    // Parked tasks count: a new call is refused while they wait.
    EXPECT_EQ(pool.TryPost(log.Task("refused")).code(),
              absl::StatusCode::kResourceExhausted);
    blocker.Release();
  }
  EXPECT_THAT(log.names(), ElementsAre("a", "b", "stream 1", "stream 2"));
}

TEST(WorkPoolTest, PostOfAdmittedWorkNeverRefuses) {
  RunLog log;
  {
    WorkPool pool(1, 1);
    Blocker blocker(&pool);
    ASSERT_TRUE(pool.TryPost(log.Task("a")).ok());
    pool.Post(log.Task("continuation"));
    EXPECT_EQ(pool.queued(), 2);
    pool.PostWhenRoom(log.Task("stream"));
    EXPECT_EQ(pool.parked(), 1);
    blocker.Release();
  }
  EXPECT_THAT(log.names(), ElementsAre("a", "continuation", "stream"));
}

TEST(WorkPoolTest, ManyThreadsRunEverythingOnce) {
  std::atomic<int> ran{0};
  int admitted = 0;
  {
    WorkPool pool(4);
    for (int i = 0; i < 1000; ++i) {
      if (i % 3 == 0) {
        pool.PostWhenRoom([&] { ++ran; });
        ++admitted;
      } else if (pool.TryPost([&] { ++ran; }).ok()) {
        ++admitted;
      }
    }
  }
  EXPECT_EQ(ran.load(), admitted);
}

}  // namespace
}  // namespace stylizer
