// How much memory this process may use: the memory limit of its cgroup
// (cgroup v2 memory.max, v1 memory.limit_in_bytes, the lowest along the path
// to the root, as a container's limit may sit on the pod's level), else the
// machine's memory (MemTotal in /proc/meminfo). Read once at startup to size
// the server's memory budget.
#ifndef STYLIZER_SERVER_SERVICE_MEMORY_LIMIT_H_
#define STYLIZER_SERVER_SERVICE_MEMORY_LIMIT_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"

namespace stylizer {

struct MemoryLimit {
  int64_t bytes = 0;
  // Where it came from, for the log: the cgroup file, or "/proc/meminfo".
  std::string source;
};

// Reads the limit. `root` prefixes every path read (/proc/self/cgroup,
// /sys/fs/cgroup/..., /proc/meminfo); tests point it at a fake tree.
// NotFound when neither a cgroup limit nor MemTotal can be read.
absl::StatusOr<MemoryLimit> DetectMemoryLimit(const std::string& root = "");

// The default memory budget: `percent` of the detected limit (or of
// `fallback_bytes` when nothing could be read).
int64_t DefaultMemoryBudget(const absl::StatusOr<MemoryLimit>& limit,
                            int percent, int64_t fallback_bytes);

}  // namespace stylizer

#endif  // STYLIZER_SERVER_SERVICE_MEMORY_LIMIT_H_
