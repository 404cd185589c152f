// MemoryTrimmer: hands the memory that glibc's allocator holds free back to
// the kernel every so often (malloc_trim). Under many concurrent callers
// glibc spreads allocations over up to 8 arenas per core, and each keeps
// the pages of its high-water mark after they are freed: the server's RSS
// then climbs for minutes after a burst although little is live (the soak in
// docs/performance.md). A trim walks every arena's free chunks and releases
// their whole pages; it costs milliseconds, off every request's path.
#ifndef STYLIZER_SERVER_MEMORY_TRIMMER_H_
#define STYLIZER_SERVER_MEMORY_TRIMMER_H_

#include <functional>

#include "absl/time/time.h"
#include "server/service/periodic.h"

namespace stylizer {

class MemoryTrimmer {
 public:
  // Calls `trim` (default: malloc_trim(0)) every `interval` on a thread of
  // its own until destroyed; does nothing if `interval` is not positive.
  explicit MemoryTrimmer(absl::Duration interval,
                         std::function<void()> trim = nullptr);

  MemoryTrimmer(const MemoryTrimmer&) = delete;
  MemoryTrimmer& operator=(const MemoryTrimmer&) = delete;

  // Releases free memory now: malloc_trim(0).
  static void TrimNow();

 private:
  Periodic periodic_;
};

}  // namespace stylizer

#endif  // STYLIZER_SERVER_MEMORY_TRIMMER_H_
