// CallLog: the record one RPC keeps of itself (method, peer, the caller's
// request id, start time, frames, bytes) and reports exactly once when it
// finishes: to the metrics (requests_total, request_duration_seconds) and
// as one "rpc" log line. Bytes reach the metrics as they flow.
//
// The request id is the client's x-request-id metadata (the header proxies
// and tracing set, and the stylizer CLI sends), at most kMaxRequestIdBytes of
// it: it lets an operator find the call a user reports. The trace id of a
// W3C traceparent header (trace_context.h) is logged too, to go from a trace
// to the call's log lines.
// The call counts as active (graceful drain waits for it) until the CallLog is
// destroyed, which reactors do after OnDone: only then has the call's status
// reached the client, so closing the port cannot cut it off.
#ifndef STYLIZER_SERVER_SERVICE_CALL_LOG_H_
#define STYLIZER_SERVER_SERVICE_CALL_LOG_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "grpcpp/server_context.h"
#include "grpcpp/support/status.h"
#include "server/service/request_id.h"

namespace stylizer {

class ServiceContext;

class CallLog {
 public:
  // Starts the clock for one call of `method` and counts it as active in
  // `service`.
  CallLog(ServiceContext* service, absl::string_view method,
          const grpc::CallbackServerContext& context);
  // Finish(CANCELLED) if Finish was never called; the call stops counting as
  // active.
  ~CallLog();
  CallLog(const CallLog&) = delete;
  CallLog& operator=(const CallLog&) = delete;

  // Counts stylized outputs (frames x styles). Thread-safe.
  void AddFrames(int64_t n) { frames_.fetch_add(n, std::memory_order_relaxed); }
  // Counts payload bytes received / sent, for the log line and, at once,
  // the metrics' byte counters (a long stream's bytes used to show only at
  // its end). Thread-safe.
  void AddBytesIn(int64_t n);
  void AddBytesOut(int64_t n);

  // The caller's x-request-id, cut to kMaxRequestIdBytes; empty if none.
  const std::string& request_id() const { return request_id_; }
  // The trace id of the caller's W3C traceparent header; empty if none or
  // invalid.
  const std::string& trace_id() const { return trace_id_; }

  // Tags the call's log line with a video job id. Thread-safe.
  void SetJobId(absl::string_view job_id) ABSL_LOCKS_EXCLUDED(mu_);

  // Reports the call with its final status. Only the first call reports.
  // Returns `status` as the log has it: an absl::Status with the retry hint
  // of its details, if any (FromGrpcStatus), for AddRetryPushback.
  absl::Status Finish(const grpc::Status& status);

 private:
  ServiceContext* const service_;
  const std::string method_;
  const std::string peer_;
  const std::string request_id_;
  const std::string trace_id_;
  const absl::Time start_;
  std::atomic<int64_t> frames_{0};
  std::atomic<int64_t> bytes_in_{0};
  std::atomic<int64_t> bytes_out_{0};
  std::atomic<bool> finished_{false};
  absl::Mutex mu_;
  std::string job_id_ ABSL_GUARDED_BY(mu_);
};

}  // namespace stylizer

#endif  // STYLIZER_SERVER_SERVICE_CALL_LOG_H_
