#include "server/file_limit.h"

#include <sys/resource.h>

#include <algorithm>

namespace stylizer {
namespace {

int64_t AsInt(rlim_t value) {
  return value == RLIM_INFINITY ? -1 : static_cast<int64_t>(value);
}

}  // namespace

FileLimit RaiseOpenFileLimit() {
  FileLimit result;
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return result;
  result.before = result.soft = AsInt(limit.rlim_cur);
  result.hard = AsInt(limit.rlim_max);
  const rlim_t target = limit.rlim_max == RLIM_INFINITY
                            ? static_cast<rlim_t>(kMaxOpenFiles)
                            : limit.rlim_max;
  if (limit.rlim_cur != RLIM_INFINITY && limit.rlim_cur < target) {
    rlimit raised = limit;
    raised.rlim_cur = target;
    if (setrlimit(RLIMIT_NOFILE, &raised) == 0) result.soft = AsInt(target);
  }
  return result;
}

}  // namespace stylizer
