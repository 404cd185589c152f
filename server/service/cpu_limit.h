// How many CPUs this process may use: the CPUs it may run on
// (sched_getaffinity: taskset, cpusets) and its cgroup's CPU quota (v2
// cpu.max, v1 cpu.cfs_quota_us / cpu.cfs_period_us, the lowest along the
// path to the root), rounded up. A container limited to 4 CPUs on a 64-core
// node gets 4: thread counts sized from std::thread::hardware_concurrency()
// (64 there) would be throttled by the quota. Read once at startup to size
// the "0 = automatic" thread counts.
#ifndef STYLIZER_SERVER_SERVICE_CPU_LIMIT_H_
#define STYLIZER_SERVER_SERVICE_CPU_LIMIT_H_

#include <string>

namespace stylizer {

struct CpuLimit {
  int cpus = 1;  // at least 1
  // Where it came from, for the log: the cgroup file, or "sched_getaffinity"
  // (or "hardware_concurrency" where that cannot be read).
  std::string source;
};

// Reads the limit. `root` prefixes every path read (/proc/self/cgroup,
// /sys/fs/cgroup/...); `machine_cpus` > 0 stands for the CPUs this process
// may run on (tests), 0 asks sched_getaffinity.
CpuLimit DetectCpuLimit(const std::string& root = "", int machine_cpus = 0);

}  // namespace stylizer

#endif  // STYLIZER_SERVER_SERVICE_CPU_LIMIT_H_
