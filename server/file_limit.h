// The process's open-file limit, raised as far as it may go at start-up.
//
// Every connection, upload spool file and pipe is a file descriptor. Debian's
// gRPC stops accepting connections for good once accept4 fails for want of
// one (it does not retry the listening socket): a server left at a low soft
// limit (1024 under many shells and service managers) could be cut off by
// anyone who opens that many connections. The hard limit is what the
// operator allows; the soft limit is raised to it.
#ifndef STYLIZER_SERVER_FILE_LIMIT_H_
#define STYLIZER_SERVER_FILE_LIMIT_H_

#include <cstdint>

namespace stylizer {

struct FileLimit {
  int64_t before = 0;  // the soft limit found (-1: unlimited)
  int64_t soft = 0;    // the soft limit now (-1: unlimited)
  int64_t hard = 0;    // the hard limit (-1: unlimited)
};

// Raises RLIMIT_NOFILE's soft limit to its hard limit (to kMaxOpenFiles when
// the hard limit is unlimited, which the kernel refuses as a soft limit).
// Leaves it as it is when that fails.
FileLimit RaiseOpenFileLimit();

inline constexpr int64_t kMaxOpenFiles = int64_t{1} << 20;

}  // namespace stylizer

#endif  // STYLIZER_SERVER_FILE_LIMIT_H_
