// The signal thread behind InstallInterruptHandler; see interrupt.h.
#include "client/interrupt.h"

#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <list>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "client/output_files.h"

namespace stylizer::client {
namespace {

std::atomic<bool> g_interrupted{false};

// How long the command has after the first signal to end by itself.
constexpr time_t kInterruptGraceSeconds = 5;

struct Registry {
  absl::Mutex mu;
  std::list<std::function<void()>*> cancels ABSL_GUARDED_BY(mu);
};

Registry& GetRegistry() {
  static Registry* registry = new Registry;
  return *registry;
}

// Whether `sig` was set to be ignored when the process started: `nohup`
// ignores SIGHUP so that the command outlives its terminal, and a blocked
// signal is delivered to sigwait even so.
bool IgnoredAtStart(int sig) {
  struct sigaction action {};
  return sigaction(sig, nullptr, &action) == 0 && action.sa_handler == SIG_IGN;
}

}  // namespace

void InstallInterruptHandler() {
  static sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  // A closed terminal or a dropped ssh connection: it ended the command
  // with its temporary outputs left behind.
  if (!IgnoredAtStart(SIGHUP)) sigaddset(&set, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  std::thread([] {
    int sig = 0;
    while (sigwait(&set, &sig) != 0) {
    }
    g_interrupted = true;
    {
      Registry& r = GetRegistry();
      absl::MutexLock lock(&r.mu);
      if (r.cancels.empty()) {
        RemoveLeftovers();
        _exit(130);
      }
      for (auto* cancel : r.cancels) (*cancel)();
    }
    // The command now ends on its own, within moments. A thread blocked in
    // a write to a pipe nobody reads (`frames | a paused player`) never
    // sees the cancel, though: past the grace the process ends here, as
    // the orderly path would have said it. A second signal ends it at once.
    const timespec grace{kInterruptGraceSeconds, 0};
    siginfo_t info;
    // Either way no destructor runs: the unfinished outputs' temporary
    // files and the segments' directory are removed here (a second Ctrl-C
    // left `.NAME.part-XXXXXX` files beside the outputs).
    if (sigtimedwait(&set, &info, &grace) > 0) {
      RemoveLeftovers();
      _exit(130);
    }
    RemoveLeftovers();
    static const char kLine[] = "stylizer: error: interrupted\n";
    (void)!write(STDERR_FILENO, kLine, sizeof(kLine) - 1);
    _exit(1);
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
