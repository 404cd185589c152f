// Tests of the work pool's bounded queue: TryPost parks behind a full queue
// and refuses only past the parking limit, PostWhenRoom parks and runs in
// order, Post always queues.
#include "server/service/work_pool.h"

#include <atomic>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/service/retry_info.h"

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
  EXPECT_EQ(pool.max_parked(), 3 * WorkPool::kParkedTasksPerThread);
  WorkPool sized(2, 5, 7);
  EXPECT_EQ(sized.max_queued(), 5);
  EXPECT_EQ(sized.max_parked(), 7);
}

// The number N in "retry in about N ms".
int64_t RetryHintMs(absl::string_view message) {
  const size_t at = message.find("retry in about ");
  if (at == absl::string_view::npos) return -1;
  int64_t ms = -1;
  if (!absl::SimpleAtoi(
          message.substr(at + 15, message.find(' ', at + 15) - (at + 15)),
          &ms)) {
    return -1;
  }
  return ms;
}

TEST(WorkPoolTest, TryPostRefusesWhenFullWithRetryHint) {
  RunLog log;
  {
    WorkPool pool(1, 2, 0);
    Blocker blocker(&pool);
    EXPECT_TRUE(pool.TryPost(log.Task("a")).ok());
    EXPECT_TRUE(pool.TryPost(log.Task("b")).ok());
    absl::Status full = pool.TryPost(log.Task("refused"));
    EXPECT_EQ(full.code(), absl::StatusCode::kResourceExhausted);
    EXPECT_THAT(full.message(), HasSubstr("retry in about"));
    EXPECT_THAT(full.message(), HasSubstr("2 tasks are waiting"));
    // The hint a client acts on is the status's RetryInfo, not the text.
    ASSERT_TRUE(RetryDelay(full).has_value());
    EXPECT_GE(*RetryDelay(full), WorkPool::kMinRetryHint);
    EXPECT_EQ(pool.queued(), 2);
    blocker.Release();
  }  // the destructor runs what was queued
  EXPECT_THAT(log.names(), ElementsAre("a", "b"));
}

// A burst of unary calls larger than the queue waits its turn (it used to be
// refused as soon as the queue was full: 4 refusals among 4383 images in the
// 5-minute soak), and a refusal's hint is never a uselessly short wait (it
// used to say "about 1 ms", the mean of mostly tiny tasks).
TEST(WorkPoolTest, TryPostParksABurstAndHintsAUsefulWait) {
  RunLog log;
  {
    WorkPool pool(1, 2, 3);
    Blocker blocker(&pool);
    for (const char* name : {"a", "b", "c", "d", "e"}) {
      EXPECT_TRUE(pool.TryPost(log.Task(name)).ok()) << name;
    }
    EXPECT_EQ(pool.queued(), 2);
    EXPECT_EQ(pool.parked(), 3);
    absl::Status full = pool.TryPost(log.Task("refused"));
    EXPECT_EQ(full.code(), absl::StatusCode::kResourceExhausted);
    EXPECT_THAT(full.message(), HasSubstr("5 tasks are waiting"));
    EXPECT_THAT(full.message(), HasSubstr("limit 5"));
    EXPECT_GE(RetryHintMs(full.message()),
              absl::ToInt64Milliseconds(WorkPool::kMinRetryHint))
        << full.message();
    blocker.Release();
  }
  EXPECT_THAT(log.names(), ElementsAre("a", "b", "c", "d", "e"));
}

TEST(WorkPoolTest, PostWhenRoomParksAndRunsInOrderBeforeLaterTryPosts) {
  RunLog log;
  {
    WorkPool pool(1, 2, 2);
    Blocker blocker(&pool);
    ASSERT_TRUE(pool.TryPost(log.Task("a")).ok());
    ASSERT_TRUE(pool.TryPost(log.Task("b")).ok());
    pool.PostWhenRoom(log.Task("stream 1"));
    pool.PostWhenRoom(log.Task("stream 2"));
    EXPECT_EQ(pool.parked(), 2);
    EXPECT_EQ(pool.queued(), 2);
    // Parked tasks count: a new call is refused while the parking is full.
    EXPECT_EQ(pool.TryPost(log.Task("refused")).code(),
              absl::StatusCode::kResourceExhausted);
    blocker.Release();
  }
  EXPECT_THAT(log.names(), ElementsAre("a", "b", "stream 1", "stream 2"));
}

TEST(WorkPoolTest, PostOfAdmittedWorkNeverRefuses) {
  RunLog log;
  {
    WorkPool pool(1, 1, 0);
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
