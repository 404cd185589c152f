// The signal thread behind InstallInterruptHandler; see interrupt.h.
#include "client/interrupt.h"

#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <list>
#include <thread>

#include "absl/synchronization/mutex.h"

namespace stylizer::client {
namespace {

std::atomic<bool> g_interrupted{false};

struct Registry {
  absl::Mutex mu;
  std::list<std::function<void()>*> cancels ABSL_GUARDED_BY(mu);
};

Registry& GetRegistry() {
  static Registry* registry = new Registry;
  return *registry;
}

}  // namespace

void InstallInterruptHandler() {
  static sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  std::thread([] {
    while (true) {
      int sig = 0;
      if (sigwait(&set, &sig) != 0) continue;
      if (g_interrupted.exchange(true)) _exit(130);  // the second signal
      Registry& r = GetRegistry();
      absl::MutexLock lock(&r.mu);
      if (r.cancels.empty()) _exit(130);
      for (auto* cancel : r.cancels) (*cancel)();
    }
  }).detach();
}

bool Interrupted() { return g_interrupted.load(); }

CancelOnInterrupt::CancelOnInterrupt(std::function<void()> cancel)
    : cancel_(std::move(cancel)) {
  Registry& r = GetRegistry();
  absl::MutexLock lock(&r.mu);
  r.cancels.push_back(&cancel_);
}

CancelOnInterrupt::~CancelOnInterrupt() {
  Registry& r = GetRegistry();
  absl::MutexLock lock(&r.mu);
  r.cancels.remove(&cancel_);
}

}  // namespace stylizer::client
