// Reads cgroup and /proc memory limits; see memory_limit.h.
#include "server/service/memory_limit.h"

#include <fstream>
#include <optional>
#include <sstream>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"

namespace stylizer {
namespace {

// cgroup v1 reports "no limit" as a huge page-rounded number (2^63 - 4096 on
// x86-64); anything this large is no limit.
constexpr int64_t kNoLimitAbove = int64_t{1} << 60;

std::optional<std::string> ReadSmallFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

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

// The lowest limit in `file` of the cgroup directory `dir` + `path` and of
// each of its ancestors up to `dir` itself.
void LowestAlongPath(const std::string& dir, std::string path,
                     const std::string& file,
                     std::optional<MemoryLimit>* best) {
  while (true) {
    while (!path.empty() && path.back() == '/') path.pop_back();
    const std::string candidate = absl::StrCat(dir, path, "/", file);
    if (std::optional<int64_t> bytes = ReadLimitFile(candidate)) {
      if (!best->has_value() || *bytes < (*best)->bytes) {
        *best = MemoryLimit{*bytes, candidate};
      }
    }
    if (path.empty()) return;
    const size_t slash = path.rfind('/');
    path = slash == std::string::npos ? "" : path.substr(0, slash);
  }
}

std::optional<MemoryLimit> CgroupLimit(const std::string& root) {
  std::optional<std::string> cgroups =
      ReadSmallFile(root + "/proc/self/cgroup");
  if (!cgroups.has_value()) return std::nullopt;
  std::optional<MemoryLimit> best;
  for (absl::string_view line : absl::StrSplit(*cgroups, '\n')) {
    // "hierarchy-id:controllers:path"; the path may itself hold ':'.
    std::vector<std::string> parts =
        absl::StrSplit(line, absl::MaxSplits(':', 2));
    if (parts.size() != 3) continue;
    if (parts[0] == "0" && parts[1].empty()) {  // cgroup v2
      LowestAlongPath(root + "/sys/fs/cgroup", parts[2], "memory.max", &best);
    } else {
      for (absl::string_view controller : absl::StrSplit(parts[1], ',')) {
        if (controller == "memory") {  // cgroup v1
          LowestAlongPath(root + "/sys/fs/cgroup/memory", parts[2],
                          "memory.limit_in_bytes", &best);
        }
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
