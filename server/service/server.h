// Server: assembles the whole gRPC server in one place: listening
// port and credentials (TLS, mutual TLS), message size limits, keepalive, a
// resource quota, the Stylizer service, the standard health protocol
// (health_service.h) and server reflection. The model loads on a background
// thread after the port is open, so health answers NOT_SERVING until the model
// is loaded and warmed, then SERVING, and NOT_SERVING again while draining.
#ifndef STYLIZER_SERVER_SERVICE_SERVER_H_
#define STYLIZER_SERVER_SERVICE_SERVER_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "server/batching/gated_observer.h"
#include "server/batching/job_queue.h"
#include "server/batching/job_queue_options.h"
#include "server/model/style_model.h"
#include "server/service/health_service.h"
#include "server/service/memory_budget.h"
#include "server/service/periodic.h"
#include "server/service/service_context.h"
#include "server/service/stylizer_service.h"
#include "server/service/tls_files.h"

namespace grpc {
class Server;
}  // namespace grpc

namespace stylizer {

class Metrics;
class TokenAuth;
class WorkPool;

// Loads the model; runs on the server's loader thread.
using ModelLoader =
    std::function<absl::StatusOr<std::unique_ptr<StyleModel>>()>;
// Loads one instance of the model per device (several GPUs); the queue runs
// its workers on each. Every instance must have the same styles.
using ModelsLoader = std::function<
    absl::StatusOr<std::vector<std::unique_ptr<StyleModel>>>()>;

// The automatic cap on a batch's pixels on the CPU (1024x1024): per frame, a
// batch of large frames runs no faster there than one frame at a time
// (docs/performance.md), and a forward pass cannot be stopped.
inline constexpr int64_t kCpuMaxBatchPixels = int64_t{1} << 20;

// The job queue's max_batch_pixels (0: no cap) for Options::max_batch_pixels
// `setting` on a model on `device` ("cpu", "cuda:0").
int64_t BatchPixelCap(int64_t setting, absl::string_view device);

class Server {
 public:
  struct Options {
    // Interface to listen on. Default all IPv4 and IPv6 interfaces.
    std::string host = "[::]";
    // TCP port. Default 50051. 0 picks a free port (see port()).
    int port = 50051;

    // Loads the model (this or load_models is required). Called once, on a
    // background thread, after the port is open.
    ModelLoader load_model;
    // Loads one instance per device, instead of load_model when set.
    ModelsLoader load_models;
    // Batching, capacities and per-job limits of the job queue (its
    // max_batch_pixels comes from max_batch_pixels below).
    JobQueue::Options queue;
    // Most pixels in one batch: 0 = automatic, once the model's device is
    // known (kCpuMaxBatchPixels on the CPU, no cap on CUDA); -1 = no cap;
    // else that many.
    int64_t max_batch_pixels = 0;
    // Limits every RPC enforces (pixels, styles, streams, buffering).
    ServiceLimits limits;
    // Threads decoding and encoding images. Default 0 = one per hardware
    // thread.
    int work_threads = 0;
    // Run one frame through the queue before reporting SERVING. Default true.
    bool warmup = true;

    // Largest request message. Default 64 MiB (a raw DCI 4K frame is 26.5
    // MB).
    int max_receive_message_bytes = 64 << 20;
    // Largest response message. Default 512 MiB (StylizeImage with many raw
    // 4K outputs in one response).
    int max_send_message_bytes = 512 << 20;
    // One bound on the bytes the server holds for callers (see
    // memory_budget.h): StylizeFrames frames, StylizeImage calls and video
    // jobs (spool, window, encoders, unsent output) are reserved in it,
    // gRPC's buffer quota is carved out of it, and the queue's
    // max_queued_bytes is capped by what remains. Default 0 = no budget.
    int64_t memory_budget_bytes = 0;
    // Memory gRPC may use for its buffers (a ResourceQuota), in bytes; taken
    // from the memory budget. Default 0 = a quarter of the budget (no quota
    // without a budget); -1 = no quota.
    int64_t grpc_memory_quota_bytes = 0;
    // Server-initiated keepalive pings on idle connections: interval and how
    // long to wait for the ack. Defaults 60 s and 20 s.
    absl::Duration keepalive_time = absl::Seconds(60);
    absl::Duration keepalive_timeout = absl::Seconds(20);
    // Shortest interval between client pings the server tolerates. Default
    // 10 s; clients pinging faster get GOAWAY.
    absl::Duration keepalive_min_client_interval = absl::Seconds(10);
    // A connection that has not finished its handshake (TLS, then HTTP/2's
    // preface and settings) this long after it was accepted is closed.
    // Default 10 s (gRPC's own is 120 s, which let plain idle sockets hold
    // the file descriptors until accept failed).
    absl::Duration handshake_timeout = absl::Seconds(10);
    // HTTP/2 connection limits. A connection idle (no call) this long is
    // closed with GOAWAY; default 10 min. A connection older than
    // max_connection_age gets GOAWAY (no new calls on it; clients reconnect,
    // which spreads them over replicas); default 30 min. Calls still running
    // on it then have max_connection_age_grace to finish before the
    // connection is closed; default infinite, so a long movie upload is
    // never cut by the age limit. Infinite disables a limit.
    absl::Duration max_connection_idle = absl::Minutes(10);
    absl::Duration max_connection_age = absl::Minutes(30);
    absl::Duration max_connection_age_grace = absl::InfiniteDuration();

    // PEM files. Both cert and key turn TLS on; a client CA file in addition
    // requires and verifies client certificates (mutual TLS). Default: none
    // (plaintext).
    std::string tls_cert_file;
    std::string tls_key_file;
    std::string tls_client_ca_file;
    // With a client CA: the client certificate names admitted (a subject
    // alternative name, or the common name of a certificate without any);
    // a certificate the CA signed under another name gets
    // PERMISSION_DENIED. Empty: every certificate the CA signed.
    std::vector<std::string> tls_client_names;
    // How often the three TLS files are read again (a renewed certificate
    // is then used by new connections without a restart); rounded to whole
    // seconds, at least 1. 0: read once at start. Default 60 s.
    absl::Duration tls_reload_interval = absl::Seconds(60);
    // File holding the bearer tokens (one per line) every Stylizer call must
    // carry one of (health and reflection stay open). Default: none (no
    // token auth).
    std::string auth_token_file;
    // How often the token file is read again; a changed file's tokens
    // replace the old ones (token_auth.h). 0: never. Default 10 s.
    absl::Duration auth_token_reload_interval = absl::Seconds(10);
    // Serve grpc.reflection.v1alpha.ServerReflection. Default true.
    bool enable_reflection = true;
    // Health Watch streams served at once, from all connections (they need
    // no token and stay open; each costs about 16 KiB); past this many,
    // Watch answers UNIMPLEMENTED (0: Watch off), past 16 on one connection
    // RESOURCE_EXHAUSTED (health_service.h). Check is never limited.
    // Default 4096.
    int max_health_watchers = 4096;

    // Metrics to report to (requests, streams, queue, model info). May be
    // null. Must outlive the server.
    Metrics* metrics = nullptr;
    // Makes StylizeVideo reactors; empty = StylizeVideo is UNIMPLEMENTED.
    VideoReactorFactory video;
    // Called once, on the loader thread, if the model cannot be loaded (the
    // server keeps answering UNAVAILABLE). Default: nothing.
    std::function<void(const absl::Status&)> on_load_failure;
  };

  // Validates `options`, opens the port and starts serving (health
  // NOT_SERVING), then loads the model in the background. Errors:
  // INVALID_ARGUMENT for bad options, NOT_FOUND for unreadable TLS or token
  // files, UNAVAILABLE when the port cannot be bound.
  static absl::StatusOr<std::unique_ptr<Server>> BuildAndStart(
      const Options& options);

  // Drains with a zero timeout if Drain() was not called.
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // The bound port.
  int port() const { return port_; }

  // Blocks until the model is loaded, warmed and the server SERVING (OK), or
  // loading failed (its status).
  absl::Status WaitUntilReady();

  // True while the model is still loading or warming up. A load cannot be
  // interrupted (a LibTorch call may run for minutes), and no call has been
  // served yet, so a shutdown then has nothing to drain: the process may
  // exit at once (main.cc).
  bool loading() const { return !loaded_.HasBeenNotified(); }

  // What ReloadFilesNow asked to be read again.
  struct FilesReloading {
    bool tls_files = false;    // with --tls_reload_interval
    bool auth_tokens = false;  // with --auth_token_reload_interval
  };
  // SIGHUP: reads the TLS files and the token file again now, on their
  // reload threads, as their intervals would (each logs what it found).
  // Only the files that are reloaded at all (a positive interval). Returns
  // at once.
  FilesReloading ReloadFilesNow();

  // Removes the private copies of the TLS files (tls_files.h) now, for a
  // process about to end without running destructors (_exit): they held a
  // copy of the private key in the temp directory, which on Kubernetes
  // outlives a restart of the container.
  void RemoveTlsCopies();

  // Graceful shutdown: health goes NOT_SERVING and new Stylizer calls get
  // UNAVAILABLE at once (the port stays open, so health checks see it); calls
  // in flight may finish for `timeout`; then the port closes, what is left is
  // cancelled, the queue drains and every thread stops. Idempotent.
  // `calls_ended`, if set, runs once every call has ended, before the wait
  // for batches still on the device: those cannot be stopped (a large frame
  // abandoned by its caller takes tens of seconds on a CPU), and no call
  // waits for them any more.
  void Drain(absl::Duration timeout,
             const std::function<void()>& calls_ended = nullptr);

  // The queue (null until loaded); for tests and metrics.
  JobQueue* queue() const { return queue_.get(); }
  // The options in effect (max_queued_bytes capped by the memory budget,
  // grpc_memory_quota_bytes resolved: -1 = none).
  const Options& options() const { return options_; }
  // Null without a budget.
  MemoryBudget* memory_budget() const { return memory_budget_.get(); }
  ServiceContext* context() const { return context_.get(); }

 private:
  explicit Server(const Options& options);
  absl::Status Start();
  void LoadModel();
  absl::Status WarmUp();
  void SetHealth(bool serving);

  const Options options_;
  int port_ = 0;
  // Declared before the context: reservations end before the budget does.
  std::unique_ptr<MemoryBudget> memory_budget_;
  std::unique_ptr<TokenAuth> auth_;
  // Reloads auth_'s file; declared after it, so it stops first.
  std::unique_ptr<Periodic> auth_reload_;
  // With --tls_reload_interval: the checked copies of the TLS files that
  // gRPC's watcher reads, and the task that refreshes them.
  std::unique_ptr<TlsFiles> tls_files_;
  std::unique_ptr<Periodic> tls_reload_;
  std::unique_ptr<WorkPool> pool_;
  std::unique_ptr<ServiceContext> context_;
  std::unique_ptr<StylizerService> service_;
  std::unique_ptr<HealthService> health_;  // outlives server_'s calls
  std::unique_ptr<grpc::Server> server_;

  // Calls load_models, or load_model for one instance; checks that every
  // instance has the same styles.
  absl::StatusOr<std::vector<std::unique_ptr<StyleModel>>> LoadInstances();

  std::vector<std::unique_ptr<StyleModel>> models_;  // one per device
  // The queue's observer: the metrics', opened once the warm-up is done
  // (declared before queue_, which it outlives).
  std::unique_ptr<GatedObserver> queue_observer_;
  std::unique_ptr<JobQueue> queue_;
  std::thread loader_;
  absl::Notification loaded_;
  absl::Status load_status_;  // written before loaded_ is notified

  absl::Mutex drain_mu_;
  bool drained_ ABSL_GUARDED_BY(drain_mu_) = false;
};

}  // namespace stylizer

#endif  // STYLIZER_SERVER_SERVICE_SERVER_H_
