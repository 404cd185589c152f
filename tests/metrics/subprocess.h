// A child process for integration tests (the server, a Prometheus server):
// started with argv, output appended to a log file, killed with the test (on
// destruction, and by the kernel if the test process dies first).
#ifndef STYLIZER_TESTS_METRICS_SUBPROCESS_H_
#define STYLIZER_TESTS_METRICS_SUBPROCESS_H_

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace stylizer::testing {

class Subprocess {
 public:
  // Starts argv[0] (a path) with stdout and stderr appended to `log_path`.
  // Fails when it cannot fork or the program cannot be executed.
  static absl::StatusOr<std::unique_ptr<Subprocess>> Start(
      const std::vector<std::string>& argv, const std::string& log_path);

  // Stop().
  ~Subprocess();
  Subprocess(const Subprocess&) = delete;
  Subprocess& operator=(const Subprocess&) = delete;

  // True while the child has not exited.
  bool Running();

  // Sends SIGTERM, waits up to `grace`, then SIGKILL; reaps the child and
  // returns its exit status as waitpid reports it (-1 if already reaped).
  int Stop(absl::Duration grace = absl::Seconds(10));

  // Waits up to `timeout` for the child to exit by itself; returns its exit
  // code, or DeadlineExceeded (the child keeps running) / Aborted (killed by
  // a signal).
  absl::StatusOr<int> Wait(absl::Duration timeout);

  // The log file's content (for failure messages).
  std::string Log() const;

  pid_t pid() const { return pid_; }

 private:
  Subprocess(pid_t pid, std::string log_path)
      : pid_(pid), log_path_(std::move(log_path)) {}
  pid_t pid_;
  bool reaped_ = false;
  int wait_status_ = -1;
  std::string log_path_;
};

// Runs argv to completion (at most `timeout`, then kills it); OK when it
// exits 0, otherwise an error that carries its output.
absl::Status RunToCompletion(const std::vector<std::string>& argv,
                             const std::string& log_path,
                             absl::Duration timeout = absl::Seconds(120));

// A TCP port on 127.0.0.1 that was free a moment ago (bound to port 0, then
// released), for programs that need a port number up front.
absl::StatusOr<int> PickFreePort();

// A fresh temporary directory, removed (recursively) on destruction.
class TempDir {
 public:
  static absl::StatusOr<std::unique_ptr<TempDir>> Create();
  ~TempDir();
  const std::string& path() const { return path_; }

 private:
  explicit TempDir(std::string path) : path_(std::move(path)) {}
  std::string path_;
};

}  // namespace stylizer::testing

#endif  // STYLIZER_TESTS_METRICS_SUBPROCESS_H_
