// Per-RPC metrics and log line; see call_log.h.
#include "server/service/call_log.h"

#include <algorithm>

#include "server/metrics/metrics.h"
#include "server/service/retry_info.h"
#include "server/service/service_context.h"
#include "server/service/status_util.h"
#include "server/service/trace_context.h"

namespace stylizer {
namespace {

std::string RequestId(const grpc::CallbackServerContext& context) {
  const auto& metadata = context.client_metadata();
  const auto it = metadata.find("x-request-id");
  if (it == metadata.end()) return std::string();
  return LoggedRequestId(
      absl::string_view(it->second.data(), it->second.size()));
}

std::string TraceId(const grpc::CallbackServerContext& context) {
  const auto& metadata = context.client_metadata();
  const auto it = metadata.find("traceparent");
  if (it == metadata.end()) return std::string();
  return TraceIdFromTraceparent(
      absl::string_view(it->second.data(), it->second.size()));
}

}  // namespace

CallLog::CallLog(ServiceContext* service, absl::string_view method,
                 const grpc::CallbackServerContext& context)
    : service_(service),
      method_(method),
      peer_(context.peer()),
      request_id_(RequestId(context)),
      trace_id_(TraceId(context)),
      start_(absl::Now()) {
  service_->CallStarted();
}

CallLog::~CallLog() {
  Finish(grpc::Status(grpc::StatusCode::CANCELLED, "the call was abandoned"))
      .IgnoreError();  // too late for a trailer
  service_->CallEnded();
}

void CallLog::AddBytesIn(int64_t n) {
  bytes_in_.fetch_add(n, std::memory_order_relaxed);
  if (Metrics* metrics = service_->metrics()) {
    metrics->AddBytesReceived(method_, n);
  }
}

void CallLog::AddBytesOut(int64_t n) {
  bytes_out_.fetch_add(n, std::memory_order_relaxed);
  if (Metrics* metrics = service_->metrics()) metrics->AddBytesSent(method_, n);
}

void CallLog::SetJobId(absl::string_view job_id) {
  absl::MutexLock lock(&mu_);
  job_id_ = std::string(job_id);
}

absl::Status CallLog::Finish(const grpc::Status& status) {
  absl::Status finished = FromGrpcStatus(status);
  if (finished_.exchange(true)) return finished;
  Metrics* const metrics = service_->metrics();
  RpcRecord record;
  record.method = method_;
  record.peer = peer_;
  record.request_id = request_id_;
  record.trace_id = trace_id_;
  record.status = finished;
  record.retry_delay = RetryDelay(record.status);
  record.duration = absl::Now() - start_;
  record.frames = frames_.load();
  record.bytes_in = bytes_in_.load();
  record.bytes_out = bytes_out_.load();
  {
    absl::MutexLock lock(&mu_);
    record.job_id = job_id_;
  }
  if (metrics != nullptr) {
    metrics->FinishRpc(record);  // records and logs
  } else {
    LogRpc(record);
  }
  return finished;
}

}  // namespace stylizer
