// Ctrl-C, SIGTERM and SIGHUP handling for the CLI (SIGHUP only where it is
// not ignored, as under nohup): the first signal cancels the calls
// in progress (so that the command can delete its temporary files and report
// "interrupted"); a second one, or one while nothing is cancellable, exits at
// once with status 130. A command still running 5 s after the first signal
// (a write blocked on a pipe nobody reads) is ended then: "interrupted",
// status 1.
#ifndef STYLIZER_CLIENT_INTERRUPT_H_
#define STYLIZER_CLIENT_INTERRUPT_H_

#include <functional>

namespace stylizer::client {

// Blocks SIGINT, SIGTERM and SIGHUP in this and every later thread and starts
// the thread that waits for them. Call once, first thing in main().
void InstallInterruptHandler();

// Whether one of those signals arrived.
bool Interrupted();

// While alive, a signal runs `cancel` (on the signal thread).
class CancelOnInterrupt {
 public:
  explicit CancelOnInterrupt(std::function<void()> cancel);
  ~CancelOnInterrupt();
  CancelOnInterrupt(const CancelOnInterrupt&) = delete;
  CancelOnInterrupt& operator=(const CancelOnInterrupt&) = delete;

 private:
  std::function<void()> cancel_;
};

}  // namespace stylizer::client

#endif  // STYLIZER_CLIENT_INTERRUPT_H_
