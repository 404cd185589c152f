// The `stylizer` command-line client: parses the command line, runs the
// command, prints one clear line on failure, exits 0 / 1 / 2.
#include <fcntl.h>
#include <grpc/support/log.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <iostream>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "client/cli_flags.h"
#include "client/commands.h"
#include "client/interrupt.h"
#include "client/output_files.h"
#include "client/rpc_errors.h"
#include "client/target_addresses.h"

extern "C" {
#include <libavutil/log.h>
}

namespace {

// A standard descriptor the caller closed (`stylizer frames <&-`) would be
// the number of the next file opened, gRPC's eventfd: the command read
// gRPC's wakeups as frames and hung. Each is held by /dev/null opened the
// other way round, so that it still fails as a closed one does ("cannot read
// standard input", "cannot write to standard output").
void HoldClosedStandardDescriptors(int, char**, char**) {
  for (int fd = STDIN_FILENO; fd <= STDERR_FILENO; ++fd) {
    if (fcntl(fd, F_GETFD) != -1 || errno != EBADF) continue;
    const int held =
        open("/dev/null", fd == STDIN_FILENO ? O_WRONLY : O_RDONLY);
    if (held >= 0 && held != fd) {  // lower ones are open: it is fd
      dup2(held, fd);
      close(held);
    }
  }
}

// gRPC's own error lines ("Handshake failed" for --tls against a plaintext
// server): a failure is one line of the command's own, which says what
// happened; --verbose shows them.
void GrpcLogWhenVerbose(gpr_log_func_args* args) {
  if (!absl::GetFlag(FLAGS_verbose)) return;
  std::cerr << "grpc: " << (args->message != nullptr ? args->message : "")
            << "\n";
}

// Before any library's initialisers: libgrpc opens its eventfd as it loads.
__attribute__((section(".preinit_array"), used)) void (*const kHoldFirst)(
    int, char**, char**) = HoldClosedStandardDescriptors;

}  // namespace

int main(int argc, char** argv) {
  using namespace stylizer::client;  // NOLINT
  InstallInterruptHandler();
  // A reader that goes away (`stylizer video x.mp4 --out=- | head -c 1`)
  // makes writes fail with EPIPE, which the commands report ("cannot write
  // to standard output"), instead of a silent death by SIGPIPE (status 141).
  signal(SIGPIPE, SIG_IGN);
  absl::StatusOr<Invocation> inv = ParseCommandLine(argc, argv);
  absl::Status status = inv.status();
  // FFmpeg's own lines ("[mov,mp4,...] stream 0, timescale not set") mean
  // little to a user, and a failure is one line of the command's own: they
  // are shown with --verbose only, warnings and up.
  av_log_set_level(absl::GetFlag(FLAGS_verbose) ? AV_LOG_WARNING
                                                 : AV_LOG_QUIET);
  gpr_set_log_function(&GrpcLogWhenVerbose);
  if (status.ok()) {
    CommandIo io{&std::cout,
                 &std::cerr,
                 isatty(STDERR_FILENO) == 1,
                 &std::cin,
                 isatty(STDOUT_FILENO) == 1,
                 isatty(STDIN_FILENO) == 1,
                 STDIN_FILENO};
    status = RunCommand(*inv, io);
  }
  errno = 0;
  std::cout.flush();
  // What the command printed may only fail now, when it leaves the buffer
  // (a full disk, a closed pipe): that is a failure too, not exit 0.
  if (std::fflush(stdout) != 0 || std::ferror(stdout) || std::cout.fail()) {
    if (status.ok()) status = WriteFailed("standard output", errno);
  }
  if (!status.ok()) {
    std::string line = ErrorLine(status);
    const std::string server = absl::GetFlag(FLAGS_server);
    absl::StrAppend(&line, UnreachableHint(
                               status.message(), server,
                               [](absl::string_view target) {
                                 return AcceptsConnections(target,
                                                           absl::Seconds(1));
                               },
                               NamesNoPort(server)));
    std::cerr << "stylizer: error: " << line << "\n";
  }
  return ExitCodeFor(status);
}
