// Reads /proc/self/cgroup; see cgroup_files.h.
#include "server/service/cgroup_files.h"

#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace stylizer {
namespace {

// `dir` + `path`, then each ancestor of it up to `dir` itself.
void AddAlongPath(const std::string& dir, std::string path, bool v2,
                  std::vector<CgroupDirectory>* out) {
  while (true) {
    while (!path.empty() && path.back() == '/') path.pop_back();
    out->push_back({absl::StrCat(dir, path), v2});
    if (path.empty()) return;
    const size_t slash = path.rfind('/');
    path = slash == std::string::npos ? "" : path.substr(0, slash);
  }
}

}  // namespace

std::optional<std::string> ReadSmallFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

std::vector<CgroupDirectory> CgroupDirectories(
    const std::string& root, absl::string_view v1_controller) {
  std::vector<CgroupDirectory> dirs;
  std::optional<std::string> cgroups =
      ReadSmallFile(root + "/proc/self/cgroup");
  if (!cgroups.has_value()) return dirs;
  for (absl::string_view line : absl::StrSplit(*cgroups, '\n')) {
    // "hierarchy-id:controllers:path"; the path may itself hold ':'.
    std::vector<std::string> parts =
        absl::StrSplit(line, absl::MaxSplits(':', 2));
    if (parts.size() != 3) continue;
    if (parts[0] == "0" && parts[1].empty()) {  // cgroup v2
      AddAlongPath(root + "/sys/fs/cgroup", parts[2], true, &dirs);
      continue;
    }
    for (absl::string_view controller : absl::StrSplit(parts[1], ',')) {
      if (controller == v1_controller) {
        AddAlongPath(absl::StrCat(root, "/sys/fs/cgroup/", v1_controller),
                     parts[2], false, &dirs);
      }
    }
  }
  return dirs;
}

}  // namespace stylizer
