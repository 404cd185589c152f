// A floor under the stack size that libraries ask for their threads.
//
// civetweb, the HTTP server behind /metrics, starts its threads with 100 KiB
// stacks. glibc carves the static thread-local storage of every loaded library
// out of each new thread's stack, and the CUDA LibTorch with cuBLASLt, cuBLAS
// and NCCL holds about 160 KiB of it: pthread_create then fails with EINVAL,
// civetweb reports "null context when constructing CivetServer" and /metrics
// cannot start. The server binary therefore answers every request for a stack
// smaller than kStackFloor with kStackFloor (glibc's own default is 8 MiB).
// Linked into stylizer-server only; the symbol is exported so that shared
// libraries (civetweb) bind to it instead of glibc's.
#include <dlfcn.h>
#include <pthread.h>

#include <cstddef>

namespace {
constexpr size_t kStackFloor = size_t{1} << 20;  // 1 MiB
using SetStackSizeFn = int (*)(pthread_attr_t*, size_t);
}  // namespace

extern "C" int pthread_attr_setstacksize(pthread_attr_t* attr,
                                         size_t stacksize) {
  static const SetStackSizeFn glibc = reinterpret_cast<SetStackSizeFn>(
      dlsym(RTLD_NEXT, "pthread_attr_setstacksize"));
  return glibc(attr, stacksize < kStackFloor ? kStackFloor : stacksize);
}
