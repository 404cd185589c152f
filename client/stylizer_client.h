// The client library: one connection to a stylizer server (plain or TLS,
// optional bearer token, per-call deadline) with a blocking method per RPC,
// the health check, and StylizeVideo's concurrent upload/download. Errors come
// back as absl::Status with one clear line (see rpc_errors.h); calls that
// fail with UNAVAILABLE before any output arrived are retried with backoff.
#ifndef STYLIZER_CLIENT_STYLIZER_CLIENT_H_
#define STYLIZER_CLIENT_STYLIZER_CLIENT_H_

#include <grpcpp/channel.h>
#include <grpcpp/client_context.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <set>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "client/byte_source.h"
#include "client/retry.h"
#include "stylizer/v1/stylizer.grpc.pb.h"

namespace stylizer::client {

// The most bytes a token file may have: a token is one line, and a call's
// headers, the token among them, may have 64 KiB at stylizer-server. The
// PEM files (ca_file, cert_file, key_file) may have 16 MiB, as the server's
// own (kMaxConfigFileBytes). Each must be a regular file.
inline constexpr uint64_t kMaxTokenFileBytes = uint64_t{64} << 10;

struct ClientOptions {
  // The server as any gRPC target: host:port, dns:///name:port,
  // ipv4:addr:port,addr:port,... Calls are balanced round-robin over every
  // address it resolves to, skipping replicas whose health is not SERVING.
  // Default "localhost:50051".
  std::string server = "localhost:50051";
  // Use TLS. Default false; implied by ca_file/cert_file/tls_server_name.
  bool tls = false;
  // PEM file of the CA that signed the server's certificate. Default "": the
  // system roots.
  std::string ca_file;
  // The name the server's certificate must carry, when it is not the host
  // of `server` (an exec probe dialling 127.0.0.1 of a server whose
  // certificate names its Service). Default "": the host of `server`.
  std::string tls_server_name;
  // PEM client certificate and key for mutual TLS (both or neither).
  std::string cert_file;
  std::string key_file;
  // File holding a bearer token sent as "authorization: Bearer <token>"
  // (at most kMaxTokenFileBytes). Default "": no token.
  std::string token_file;
  // Sent as x-request-id metadata with every call (at most 128 visible ASCII
  // characters), logged by the server with each call, and named in the
  // message of every call that fails at the server. Default "": none.
  std::string request_id;
  // Deadline of each call (for a video job: the whole job). Default 0: none.
  absl::Duration timeout = absl::ZeroDuration();
  // Retries of calls that failed before any output because the server was
  // unavailable or busy (retry.h).
  RetryPolicy retry;
  // Size of each uploaded movie chunk. Default 256 KiB.
  size_t upload_chunk_bytes = 256 * 1024;
};

// What a grpc.health.v1 Check answered.
enum class HealthState { kUnknown, kServing, kNotServing, kServiceUnknown };

// "SERVING", "NOT_SERVING", ...
absl::string_view HealthStateName(HealthState state);

// Receives what a StylizeVideo job sends back. All methods but
// OnUploadProgress run on the calling thread; OnUploadProgress runs on the
// upload thread. A non-OK status from a method cancels the job.
class VideoObserver {
 public:
  virtual ~VideoObserver() = default;
  // Bytes of the upload sent so far, of `total` (0 if unknown).
  virtual void OnUploadProgress(uint64_t sent, uint64_t total) {}
  // The address of the replica serving this attempt (gRPC's peer string,
  // e.g. "ipv4:127.0.0.1:50051"), once its first response arrived.
  virtual void OnPeer(const std::string& peer) {}
  // The server probed the input and accepted the job.
  virtual absl::Status OnAccepted(const stylizer::v1::JobAccepted& accepted) {
    return absl::OkStatus();
  }
  // Periodic progress.
  virtual void OnProgress(const stylizer::v1::Progress& progress) {}
  // The next bytes of output `output_index`.
  virtual absl::Status OnChunk(uint32_t output_index,
                               absl::string_view data) = 0;
  // The job's summary, the last message.
  virtual absl::Status OnSummary(const stylizer::v1::JobSummary& summary) {
    return absl::OkStatus();
  }
  // An attempt failed before any output in a way that is retried (the server
  // was unavailable, or busy: see retry.h); retry number `retry` starts
  // after `wait`.
  virtual void OnRetry(const absl::Status& why, absl::Duration wait,
                       int retry) {}
};

class StylizerClient {
 public:
  // Connects (lazily) to options.server. Fails on unreadable TLS or token
  // files and inconsistent TLS options.
  static absl::StatusOr<std::unique_ptr<StylizerClient>> Create(
      const ClientOptions& options);

  // Uses an existing channel (tests, in-process servers).
  static std::unique_ptr<StylizerClient> CreateForChannel(
      std::shared_ptr<grpc::Channel> channel, const ClientOptions& options);

  // The model's description and styles.
  // `notice` (if any) hears each retry before its wait.
  absl::StatusOr<stylizer::v1::ModelInfo> GetModelInfo(
      const RetryNotice& notice = nullptr);

  // Stylizes one image.
  absl::StatusOr<stylizer::v1::StylizeImageResponse> StylizeImage(
      const stylizer::v1::StylizeImageRequest& request);

  // Calls GetModelInfo (cheap) until `count` distinct replicas have answered
  // or `wait` has passed, so that calls started next find every replica
  // connected (round robin uses only replicas that are ready). Returns the
  // replicas that answered (gRPC peer strings).
  std::set<std::string> AwaitReplicas(int count, absl::Duration wait);

  // grpc.health.v1.Health/Check for `service` ("" = the whole server). When
  // the target has several addresses, each check asks the next one in turn
  // (NOT_SERVING replicas included).
  absl::StatusOr<HealthState> CheckHealth(absl::string_view service = "");

  // Runs a video job: sends `job`, then the bytes of `source` in chunks on a
  // second thread, while this thread hands every response to `observer`.
  // Returns when the server has finished the call.
  absl::Status StylizeVideo(const stylizer::v1::VideoJob& job,
                            ByteSource* source, VideoObserver* observer);

  // Opens a StylizeFrames stream. `context` must outlive the stream; it
  // gets the token and a deadline set here: --timeout from now, or
  // `deadline` when given (absl::InfiniteFuture(): none).
  std::unique_ptr<grpc::ClientReaderWriter<stylizer::v1::StylizeFramesRequest,
                                           stylizer::v1::StylizeFramesResponse>>
  OpenFrameStream(grpc::ClientContext* context,
                  std::optional<absl::Time> deadline = std::nullopt);

  // Converts a status of this client's RPCs into a clear absl::Status.
  absl::Status Convert(const grpc::Status& status) const;

  // Cancels every call in progress (except frame streams), this client's
  // children's included, and makes later calls fail with CANCELLED
  // "interrupted". Thread-safe.
  void CancelAll() ABSL_LOCKS_EXCLUDED(mu_);

  // A client on the same channels whose CancelAll() ends only its own calls,
  // while this client's CancelAll() (Ctrl-C) ends the child's too: a split
  // job stops its other segments when one fails, and the command goes on to
  // its next movie. Its calls end by `deadline` at the latest (a split job's
  // --timeout bounds all its segments together). Must not outlive this
  // client.
  std::unique_ptr<StylizerClient> Child(
      absl::Time deadline = absl::InfiniteFuture()) ABSL_LOCKS_EXCLUDED(mu_);

  ~StylizerClient();

  const ClientOptions& options() const { return options_; }

 private:
  StylizerClient(std::shared_ptr<grpc::Channel> channel,
                 std::shared_ptr<grpc::Channel> health_channel,
                 ClientOptions options, std::string token);
  // The deadline of a call starting now: --timeout from now, never after
  // job_deadline_ (absl::InfiniteFuture(): none).
  absl::Time CallDeadline() const;
  // Sets credentials and a deadline on a fresh context: `deadline`, else
  // CallDeadline().
  void Prepare(grpc::ClientContext* context,
               std::optional<absl::Time> deadline = std::nullopt) const;
  AttemptResult VideoAttempt(const stylizer::v1::VideoJob& job,
                             ByteSource* source, VideoObserver* observer,
                             absl::Time deadline);
  // Registers a call's context for CancelAll(); false once cancelled.
  bool Track(grpc::ClientContext* context) ABSL_LOCKS_EXCLUDED(mu_);
  void Untrack(grpc::ClientContext* context) ABSL_LOCKS_EXCLUDED(mu_);
  // The status of a call, "interrupted" after CancelAll().
  absl::Status Finished(const grpc::Status& status) ABSL_LOCKS_EXCLUDED(mu_);
  // RunWithRetry with options_.retry, whose waits CancelAll() cuts short (a
  // busy server may ask for seconds), and none that would end after
  // `give_up_at` or job_deadline_.
  absl::Status Retry(absl::FunctionRef<AttemptResult()> attempt,
                     const RetryNotice& notice = nullptr,
                     absl::Time give_up_at = absl::InfiniteFuture())
      ABSL_LOCKS_EXCLUDED(mu_);

  std::shared_ptr<grpc::Channel> channel_;
  // Health checks: balanced without skipping unhealthy replicas.
  std::shared_ptr<grpc::Channel> health_channel_;
  std::unique_ptr<stylizer::v1::Stylizer::Stub> stub_;
  ClientOptions options_;
  std::string token_;
  absl::Mutex mu_;
  std::set<grpc::ClientContext*> active_ ABSL_GUARDED_BY(mu_);
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  // The client this one is a Child() of, or null.
  StylizerClient* parent_ = nullptr;
  // Every call's deadline at the latest (Child()).
  absl::Time job_deadline_ = absl::InfiniteFuture();
  std::set<StylizerClient*> children_ ABSL_GUARDED_BY(mu_);
};

}  // namespace stylizer::client

#endif  // STYLIZER_CLIENT_STYLIZER_CLIENT_H_
