// Tests of RaiseOpenFileLimit: the soft limit goes up to the hard one.
#include "server/file_limit.h"

#include <sys/resource.h>

#include "gtest/gtest.h"

namespace stylizer {
namespace {

TEST(FileLimitTest, RaisesTheSoftLimitToTheHardOne) {
  rlimit limit{};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &limit), 0);
  if (limit.rlim_max != RLIM_INFINITY && limit.rlim_max <= 128) {
    GTEST_SKIP() << "the hard limit leaves no room below it";
  }
  rlimit lowered = limit;
  lowered.rlim_cur = 128;
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &lowered), 0);
  const FileLimit raised = RaiseOpenFileLimit();
  EXPECT_EQ(raised.before, 128);
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &limit), 0);
  const rlim_t expected = limit.rlim_max == RLIM_INFINITY
                              ? static_cast<rlim_t>(kMaxOpenFiles)
                              : limit.rlim_max;
  EXPECT_EQ(limit.rlim_cur, expected);
  EXPECT_EQ(raised.soft, static_cast<int64_t>(expected));
  // Raised already: nothing changes.
  const FileLimit again = RaiseOpenFileLimit();
  EXPECT_EQ(again.before, again.soft);
}

}  // namespace
}  // namespace stylizer
