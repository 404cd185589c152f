// Reads the CPU affinity and the cgroup CPU quota; see cpu_limit.h.
#include "server/service/cpu_limit.h"

#include <sched.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <optional>
#include <thread>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "server/service/cgroup_files.h"

namespace stylizer {
namespace {

// ceil(quota / period), or nullopt for no quota ("max", -1) or bad text.
std::optional<int> QuotaCpus(int64_t quota, int64_t period) {
  if (quota <= 0 || period <= 0) return std::nullopt;
  // quota / period, rounded up without overflow, then capped to an int: the
  // kernel takes quotas of thousands of millions of CPUs ("3000000000000
  // 1000"), which wrapped to a negative count.
  const int64_t cpus = quota / period + (quota % period != 0 ? 1 : 0);
  return static_cast<int>(
      std::clamp<int64_t>(cpus, 1, std::numeric_limits<int>::max()));
}

std::optional<int64_t> ReadNumber(absl::string_view text) {
  int64_t value = 0;
  if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(text), &value)) {
    return std::nullopt;
  }
  return value;
}

// The quota of one cgroup directory, in CPUs, and the file it came from.
std::optional<int> DirectoryQuota(const CgroupDirectory& dir,
                                  std::string* file) {
  if (dir.v2) {
    *file = dir.path + "/cpu.max";  // "max 100000" or "400000 100000"
    std::optional<std::string> text = ReadSmallFile(*file);
    if (!text.has_value()) return std::nullopt;
    std::vector<absl::string_view> fields = absl::StrSplit(
        absl::StripAsciiWhitespace(*text), ' ', absl::SkipEmpty());
    if (fields.size() != 2) return std::nullopt;
    std::optional<int64_t> quota = ReadNumber(fields[0]);
    std::optional<int64_t> period = ReadNumber(fields[1]);
    if (!quota.has_value() || !period.has_value()) return std::nullopt;
    return QuotaCpus(*quota, *period);
  }
  *file = dir.path + "/cpu.cfs_quota_us";  // -1 = no quota
  std::optional<std::string> quota = ReadSmallFile(*file);
  std::optional<std::string> period =
      ReadSmallFile(dir.path + "/cpu.cfs_period_us");
  if (!quota.has_value() || !period.has_value()) return std::nullopt;
  std::optional<int64_t> q = ReadNumber(*quota);
  std::optional<int64_t> p = ReadNumber(*period);
  if (!q.has_value() || !p.has_value()) return std::nullopt;
  return QuotaCpus(*q, *p);
}

CpuLimit MachineCpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 0) {
    return {CPU_COUNT(&set), "sched_getaffinity"};
  }
  return {static_cast<int>(std::max(1u, std::thread::hardware_concurrency())),
          "hardware_concurrency"};
}

}  // namespace

CpuLimit DetectCpuLimit(const std::string& root, int machine_cpus) {
  CpuLimit best =
      machine_cpus > 0 ? CpuLimit{machine_cpus, "machine"} : MachineCpus();
  for (const CgroupDirectory& dir : CgroupDirectories(root, "cpu")) {
    std::string file;
    if (std::optional<int> cpus = DirectoryQuota(dir, &file);
        cpus.has_value() && *cpus < best.cpus) {
      best = {*cpus, file};
    }
  }
  return best;
}

}  // namespace stylizer
