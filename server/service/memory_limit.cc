// Reads cgroup and /proc memory limits; see memory_limit.h.
#include "server/service/memory_limit.h"

#include <optional>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "server/service/cgroup_files.h"

namespace stylizer {
namespace {

// cgroup v1 reports "no limit" as a huge page-rounded number (2^63 - 4096 on
// x86-64); anything this large is no limit.
constexpr int64_t kNoLimitAbove = int64_t{1} << 60;

// A limit file's value: bytes, or nullopt for "max", unreadable or no limit.
std::optional<int64_t> ReadLimitFile(const std::string& path) {
  std::optional<std::string> text = ReadSmallFile(path);
  if (!text.has_value()) return std::nullopt;
  int64_t bytes = 0;
  if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(*text), &bytes) ||
      bytes <= 0 || bytes >= kNoLimitAbove) {
    return std::nullopt;  // "max" (v2) or the v1 "unlimited" value
  }
  return bytes;
}

// The lowest limit along the process's cgroup paths.
std::optional<MemoryLimit> CgroupLimit(const std::string& root) {
  std::optional<MemoryLimit> best;
  for (const CgroupDirectory& dir : CgroupDirectories(root, "memory")) {
    const std::string file = absl::StrCat(
        dir.path, dir.v2 ? "/memory.max" : "/memory.limit_in_bytes");
    if (std::optional<int64_t> bytes = ReadLimitFile(file)) {
      if (!best.has_value() || *bytes < best->bytes) {
        best = MemoryLimit{*bytes, file};
      }
    }
  }
  return best;
}

std::optional<int64_t> MemTotal(const std::string& root) {
  std::optional<std::string> meminfo = ReadSmallFile(root + "/proc/meminfo");
  if (!meminfo.has_value()) return std::nullopt;
  for (absl::string_view line : absl::StrSplit(*meminfo, '\n')) {
    if (!absl::ConsumePrefix(&line, "MemTotal:")) continue;
    line = absl::StripAsciiWhitespace(line);
    const bool kb = absl::ConsumeSuffix(&line, "kB");
    int64_t value = 0;
    if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(line), &value) ||
        value <= 0) {
      return std::nullopt;
    }
    return kb ? value * 1024 : value;
  }
  return std::nullopt;
}

}  // namespace

absl::StatusOr<MemoryLimit> DetectMemoryLimit(const std::string& root) {
  std::optional<MemoryLimit> cgroup = CgroupLimit(root);
  std::optional<int64_t> total = MemTotal(root);
  if (cgroup.has_value() && (!total.has_value() || cgroup->bytes <= *total)) {
    return *cgroup;
  }
  if (total.has_value()) return MemoryLimit{*total, "/proc/meminfo"};
  return absl::NotFoundError(
      "cannot read the memory limit (no cgroup memory limit, no MemTotal in "
      "/proc/meminfo); set --memory_budget_bytes");
}

int64_t DefaultMemoryBudget(const absl::StatusOr<MemoryLimit>& limit,
                            int percent, int64_t fallback_bytes) {
  const int64_t base = limit.ok() ? limit->bytes : fallback_bytes;
  return base / 100 * percent;
}

}  // namespace stylizer
