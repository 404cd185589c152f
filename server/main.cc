// stylizer-server: serves one multi-style network over gRPC (see
// docs/server.md). Flags configure the model, batching, limits, security and
// shutdown; SIGTERM or SIGINT drains gracefully and exits 0; SIGHUP reloads
// the TLS and token files.
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/config.h"
#include "absl/flags/flag.h"
#include "absl/flags/internal/parse.h"
#include "absl/flags/internal/usage.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/match.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/drain_watchdog.h"
#include "server/file_limit.h"
#include "server/library_logs.h"
#include "server/memory_trimmer.h"
#include "server/metrics/log.h"
#include "server/metrics/metrics.h"
#include "server/secret_files.h"
#include "server/server_flags.h"
#include "server/server_options.h"
#include "server/service/server.h"

namespace stylizer {
namespace {

// Set by the model loader's failure callback before it raises SIGUSR1: the
// main thread tells that from another process's SIGUSR1.
std::atomic<bool> g_load_failed{false};
// Set, likewise, when gRPC stopped accepting connections (library_logs.h).
std::atomic<bool> g_listener_failed{false};

// How long after the drain timeout a shutdown that is still waiting for a
// call gives up (see the drain in Run).
constexpr absl::Duration kStuckDrainGrace = absl::Seconds(15);

// Logs drain_stuck (waiting for `what`, `waited`) and ends the process with
// exit 1: a drain that would otherwise hang.
void GiveUpDrain(Server* serving, const char* what, absl::Duration waited) {
  LogEvent(LogLevel::kError, "drain_stuck")
      .Str("waiting_for", what)
      .Seconds("waited_seconds", waited);
  serving->RemoveTlsCopies();
  std::fflush(nullptr);
  _exit(1);
}

int Run(const std::vector<std::string>& arguments) {
  SetLogFormat(absl::GetFlag(FLAGS_log_format));
  absl::Status flags = CheckNoArguments(arguments);
  if (flags.ok()) flags = CheckFlags();
  if (!flags.ok()) {
    LogEvent(LogLevel::kError, "startup_failed").Str("error", flags.ToString());
    return 1;
  }
  const FileLimit files = RaiseOpenFileLimit();
  LogEvent(files.soft < 4096 && files.soft >= 0 ? LogLevel::kWarning
                                                : LogLevel::kInfo,
           "file_limit")
      .Int("open_files", files.soft)
      .Int("raised_from", files.before)
      .Int("hard_limit", files.hard);
  for (const OpenSecret& secret : SecretsReadableByOthers(
           {{"--tls_key", absl::GetFlag(FLAGS_tls_key)},
            {"--auth_token_file", absl::GetFlag(FLAGS_auth_token_file)}})) {
    LogEvent(LogLevel::kWarning, "secret_readable_by_others")
        .Str("flag", secret.flag)
        .Str("path", secret.path)
        .Str("mode", absl::StrFormat("%04o", secret.mode))
        .Str("hint",
             "any user of this machine may read it: chmod 600 (or 640 for "
             "its group); on Kubernetes, mount the Secret with defaultMode "
             "0440 and the pod's fsGroup");
  }
  RouteLibraryLogs([] {
    g_listener_failed.store(true);
    kill(getpid(), SIGUSR1);
  });
  // Signals are taken synchronously by the main thread (sigwait): block them
  // before any thread starts so that every thread inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGUSR1);
  // SIGHUP reloads the TLS and token files; by default it ended the server
  // at once, without a drain (a closed terminal, a `kill -HUP` meant as
  // "reload").
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  std::unique_ptr<Metrics> metrics;
  if (absl::GetFlag(FLAGS_metrics_port) >= 0) {
    Metrics::Options mo;
    mo.bind_address = MetricsHost();
    mo.port = absl::GetFlag(FLAGS_metrics_port);
    absl::StatusOr<std::unique_ptr<Metrics>> m = Metrics::Create(mo);
    if (!m.ok()) {
      LogEvent(LogLevel::kError, "startup_failed")
          .Str("error", m.status().ToString());
      return 1;
    }
    metrics = *std::move(m);
    LogEvent(LogLevel::kInfo, "metrics")
        .Str("host", MetricsHost())
        .Int("port", metrics->port());
  }

  MemoryTrimmer trimmer(absl::GetFlag(FLAGS_malloc_trim_interval));
  auto loaded_model = std::make_shared<LoadedModel>();
  absl::StatusOr<std::unique_ptr<Server>> server = Server::BuildAndStart(
      ServerOptions(metrics.get(), loaded_model, [](const absl::Status&) {
        // A failed load wakes the main thread, which exits non-zero.
        g_load_failed.store(true);
        kill(getpid(), SIGUSR1);
      }));
  if (!server.ok()) {
    LogEvent(LogLevel::kError, "startup_failed")
        .Str("error", server.status().ToString());
    return 1;
  }
  int signal = 0;
  int exit_code = 0;
  while (true) {
    sigwait(&signals, &signal);
    if (signal == SIGHUP) {
      const Server::FilesReloading reloading = (*server)->ReloadFilesNow();
      LogEvent(LogLevel::kInfo, "reload_requested")
          .Bool("tls_files", reloading.tls_files)
          .Bool("auth_tokens", reloading.auth_tokens);
      continue;
    }
    if (signal != SIGUSR1) break;
    if (g_load_failed.load()) {  // the model could not be loaded
      (*server)->Drain(absl::ZeroDuration());
      return 1;
    }
    if (g_listener_failed.load()) {
      // No new connection will ever be accepted: the calls in flight are
      // drained as for SIGTERM, and the exit code has the server restarted.
      // It served on, unreachable, with health SERVING on its old
      // connections.
      LogEvent(LogLevel::kError, "listener_failed")
          .Str("error",
               "gRPC stopped accepting connections (accept4 failed; out of "
               "file descriptors?): draining, then exiting 1 to be restarted; "
               "raise the open-file limit (ulimit -n)");
      exit_code = 1;
      break;
    }
    // Another process's SIGUSR1 (a log rotator, a status probe) was taken
    // for a failed load: the server drained at once, cancelling its calls,
    // and exited 1 without a word.
    LogEvent(LogLevel::kWarning, "signal_ignored")
        .Str("signal", strsignal(signal));
  }
  if (signal != SIGUSR1) {
    LogEvent(LogLevel::kInfo, "signal").Str("signal", strsignal(signal));
  }
  if ((*server)->loading()) {
    // Nothing was served, and the load cannot be interrupted: waiting for
    // it (minutes on a GPU) would outlast the drain watchdog and exit 1.
    LogEvent(LogLevel::kInfo, "stopped").Bool("while_loading", true);
    (*server)->RemoveTlsCopies();  // _exit runs no destructor
    std::fflush(nullptr);
    _exit(exit_code);
  }
  // A second SIGTERM or SIGINT (Ctrl-C again) ends the drain at once: it was
  // ignored, and a person had to wait out --drain_timeout or kill -9. Once
  // the drain is over, one is ignored (the teardown is short, and the
  // server goes with it).
  struct Draining {
    absl::Mutex mu;
    Server* server ABSL_GUARDED_BY(mu);
  };
  auto draining = std::make_shared<Draining>();
  {
    absl::MutexLock lock(&draining->mu);
    draining->server = server->get();
  }
  std::thread([draining] {
    sigset_t again;
    sigemptyset(&again);
    sigaddset(&again, SIGTERM);
    sigaddset(&again, SIGINT);
    int second = 0;
    sigwait(&again, &second);
    absl::MutexLock lock(&draining->mu);  // held: the drain cannot end now
    if (draining->server == nullptr) return;
    LogEvent(LogLevel::kWarning, "signal_again")
        .Str("signal", strsignal(second));
    draining->server->RemoveTlsCopies();  // _exit runs no destructor
    std::fflush(nullptr);
    _exit(1);
  }).detach();
  const absl::Duration drain_timeout = absl::GetFlag(FLAGS_drain_timeout);
  // Past the drain timeout every call is cancelled, and each must then end
  // on its own. A call that never does would hold shutdown forever: give it
  // a bounded grace, then exit non-zero so the orchestrator restarts us.
  // Once the calls have ended, a batch still on the device for a caller
  // that left (86 s for a 4096x2160 frame on a 2-core CPU) is not a stuck
  // call, and it ended normal shutdowns with exit 1: that wait, and the
  // threads' stop, have --drain_device_timeout of their own.
  {
    Server* const serving = server->get();
    const absl::Duration calls_limit = drain_timeout + kStuckDrainGrace;
    const absl::Duration device_limit =
        absl::GetFlag(FLAGS_drain_device_timeout);
    std::optional<DrainWatchdog> device_watchdog;
    DrainWatchdog calls_watchdog(calls_limit, [serving, calls_limit] {
      GiveUpDrain(serving, "calls", calls_limit);
    });
    (*server)->Drain(drain_timeout, [&] {
      calls_watchdog.Disarm();
      LogEvent(LogLevel::kInfo, "draining_device")
          .Seconds("timeout_seconds", device_limit);
      device_watchdog.emplace(device_limit, [serving, device_limit] {
        GiveUpDrain(serving, "device", device_limit);
      });
    });
  }
  {
    absl::MutexLock lock(&draining->mu);
    draining->server = nullptr;
  }
  {
    absl::MutexLock lock(&loaded_model->mu);
    loaded_model->models.clear();  // the server owns them and goes next
  }
  server->reset();
  metrics.reset();
  return exit_code;
}

}  // namespace
}  // namespace stylizer

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Serves a multi-style stylization network over gRPC "
      "(stylizer.v1.Stylizer, grpc.health.v1.Health, reflection).\n"
      "Usage: stylizer-server [--model=ARCHIVE.pt] [--port=50051] [flags]\n"
      "SIGTERM or SIGINT drains gracefully and exits 0; SIGHUP reloads the TLS "
      "and token files. See docs/server.md.");
  // --help lists the flags of server/server_flags.cc; --helpfull lists all.
  absl::FlagsUsageConfig usage;
  usage.contains_help_flags = [](absl::string_view path) {
    return absl::EndsWith(path, "server/server_flags.cc");
  };
  usage.contains_helpshort_flags = usage.contains_help_flags;
  usage.normalize_filename = [](absl::string_view path) {
    // Paths relative to the source tree, not to the build machine.
    for (absl::string_view root : {"server/", "client/", "external/"}) {
      const size_t pos = path.rfind(root);
      if (pos != absl::string_view::npos) return std::string(path.substr(pos));
    }
    return std::string(path);
  };
  usage.version_string = [] {
    return std::string("stylizer-server " STYLIZER_VERSION "\n");
  };
  absl::SetFlagsUsageConfig(usage);
#if defined(ABSL_LTS_RELEASE_VERSION) && ABSL_LTS_RELEASE_VERSION <= 20220623
  // This Abseil (Debian 12's) exits 1 after printing --help; a help or
  // version request that was answered exits 0 here, as scripts expect.
  // Newer Abseil does so itself.
  const std::vector<char*> rest = absl::flags_internal::ParseCommandLineImpl(
      argc, argv, absl::flags_internal::ArgvListAction::kRemoveParsedArgs,
      absl::flags_internal::UsageFlagsAction::kIgnoreUsage,
      absl::flags_internal::OnUndefinedFlag::kAbortIfUndefined);
  if (absl::flags_internal::HandleUsageFlags(
          std::cout, absl::ProgramUsageMessage()) >= 0) {
    return 0;
  }
#else
  const std::vector<char*> rest = absl::ParseCommandLine(argc, argv);
#endif
  // rest[0] is the program.
  return stylizer::Run(std::vector<std::string>(rest.begin() + 1, rest.end()));
}
