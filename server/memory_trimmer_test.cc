// Tests of MemoryTrimmer: the periodic thread, and that a trim really gives
// back freed pages that glibc would otherwise keep.
#include "server/memory_trimmer.h"

#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "absl/time/clock.h"
#include "gtest/gtest.h"

#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || \
    __has_feature(memory_sanitizer)
#define STYLIZER_SANITIZED_ALLOCATOR 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define STYLIZER_SANITIZED_ALLOCATOR 1
#endif

namespace stylizer {
namespace {

TEST(MemoryTrimmerTest, TrimsEveryIntervalUntilDestroyed) {
  std::atomic<int> calls{0};
  {
    MemoryTrimmer trimmer(absl::Milliseconds(10), [&] { ++calls; });
    const absl::Time give_up = absl::Now() + absl::Seconds(30);
    while (calls.load() < 3 && absl::Now() < give_up) {
      absl::SleepFor(absl::Milliseconds(5));
    }
  }  // joins promptly, although the next trim is due in 10 ms
  const int at_destruction = calls.load();
  EXPECT_GE(at_destruction, 3);
  absl::SleepFor(absl::Milliseconds(50));
  EXPECT_EQ(calls.load(), at_destruction);
}

TEST(MemoryTrimmerTest, ZeroIntervalNeverTrims) {
  std::atomic<int> calls{0};
  { MemoryTrimmer trimmer(absl::ZeroDuration(), [&] { ++calls; }); }
  EXPECT_EQ(calls.load(), 0);
}

// Resident pages of this process, in MiB.
long ResidentMiB() {
  long pages = 0, resident = 0;
  FILE* f = std::fopen("/proc/self/statm", "r");
  if (f == nullptr) return -1;
  if (std::fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = -1;
  std::fclose(f);
  return resident * sysconf(_SC_PAGESIZE) / (1 << 20);
}

// 256 MiB in 32 KiB blocks (below glibc's mmap threshold: they come from the
// heap), all freed but the last one, which pins the top of the heap: glibc's
// free() cannot shrink the heap past it, so the freed pages stay resident
// until a trim releases them.
TEST(MemoryTrimmerTest, TrimReleasesFreedHeapPages) {
#ifdef STYLIZER_SANITIZED_ALLOCATOR
  GTEST_SKIP() << "a sanitizer's allocator replaces glibc's: nothing to trim";
#endif
  constexpr size_t kBlock = 32 << 10;
  constexpr int kBlocks = (256 << 20) / kBlock;
  std::vector<char*> blocks;
  blocks.reserve(kBlocks);
  for (int i = 0; i < kBlocks; ++i) {
    char* b = static_cast<char*>(std::malloc(kBlock));
    ASSERT_NE(b, nullptr);
    std::memset(b, 1, kBlock);  // make the pages resident
    blocks.push_back(b);
  }
  for (int i = 0; i + 1 < kBlocks; ++i) std::free(blocks[i]);
  const long before = ResidentMiB();
  MemoryTrimmer::TrimNow();
  const long after = ResidentMiB();
  std::free(blocks.back());
  EXPECT_GT(before - after, 128) << "before " << before << " MiB, after "
                                 << after << " MiB";
}

}  // namespace
}  // namespace stylizer
