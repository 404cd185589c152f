// This process's cgroup directories, for reading its limits (memory_limit.h,
// cpu_limit.h): cgroup v2's unified hierarchy or a v1 controller's, from the
// process's own directory up to the hierarchy's root, as a container's limit
// may sit on the pod's level.
#ifndef STYLIZER_SERVER_SERVICE_CGROUP_FILES_H_
#define STYLIZER_SERVER_SERVICE_CGROUP_FILES_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace stylizer {

struct CgroupDirectory {
  std::string path;  // e.g. /sys/fs/cgroup/kubepods/pod1/ctr
  bool v2 = false;   // unified hierarchy (else the v1 controller's)
};

// The directories of the cgroups in /proc/self/cgroup that hold
// `v1_controller` (v1: under /sys/fs/cgroup/<v1_controller>) or of the
// unified hierarchy (v2: under /sys/fs/cgroup), each followed by its
// ancestors up to the hierarchy's root. `root` prefixes every path (tests
// point it at a fake tree). Empty when /proc/self/cgroup cannot be read.
std::vector<CgroupDirectory> CgroupDirectories(const std::string& root,
                                               absl::string_view v1_controller);

// The whole text of a small file, or nullopt if it cannot be read.
std::optional<std::string> ReadSmallFile(const std::string& path);

}  // namespace stylizer

#endif  // STYLIZER_SERVER_SERVICE_CGROUP_FILES_H_
