// The rpc and job log lines; see metrics.h (LogRpc, LogVideoJob).
#include <string>

#include "absl/time/clock.h"
#include "server/metrics/log.h"
#include "server/metrics/log_sampler.h"
#include "server/metrics/metrics_impl.h"

namespace stylizer {
namespace metrics_internal {

std::string CodeLabel(absl::StatusCode code) {
  std::string name = absl::StatusCodeToString(code);
  return name.empty() ? "UNKNOWN" : name;
}

}  // namespace metrics_internal

namespace {

using metrics_internal::CodeLabel;

// rpc lines of refused credentials written a second, at most.
constexpr int kRefusalLinesPerSecond = 20;

// Client mistakes and cancellations are routine; server faults are errors.
LogLevel LevelFor(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kOk:
    case absl::StatusCode::kCancelled:
      return LogLevel::kInfo;
    case absl::StatusCode::kInternal:
    case absl::StatusCode::kUnknown:
    case absl::StatusCode::kDataLoss:
    case absl::StatusCode::kUnimplemented:
      return LogLevel::kError;
    default:
      return LogLevel::kWarning;
  }
}

}  // namespace

void LogRpc(const RpcRecord& record) {
  const absl::StatusCode code = record.status.code();
  // Refusals of a caller's credentials: what a flood of them writes is
  // bounded (the metrics count every one).
  int64_t left_out = 0;
  if (code == absl::StatusCode::kUnauthenticated ||
      code == absl::StatusCode::kPermissionDenied) {
    static LogSampler* const sampler = new LogSampler(kRefusalLinesPerSecond);
    if (!sampler->Admit(absl::Now(), &left_out)) return;
  }
  LogEvent line(LevelFor(code), "rpc");
  line.Str("method", record.method)
      .Str("peer", record.peer)
      .Str("code", CodeLabel(code));
  if (!record.status.ok()) line.Str("message", record.status.message());
  if (!record.request_id.empty()) line.Str("request_id", record.request_id);
  if (!record.trace_id.empty()) line.Str("trace_id", record.trace_id);
  if (!record.job_id.empty()) line.Str("job_id", record.job_id);
  if (record.retry_delay.has_value()) {
    line.Int("retry_ms", absl::ToInt64Milliseconds(*record.retry_delay));
  }
  line.Int("frames", record.frames)
      .Int("bytes_in", record.bytes_in)
      .Int("bytes_out", record.bytes_out)
      .Seconds("seconds", record.duration);
  if (left_out > 0) line.Int("refusals_not_logged", left_out);
}

void LogVideoJob(const VideoJobRecord& record) {
  const absl::StatusCode code = record.status.code();
  LogEvent line(LevelFor(code), "job");
  line.Str("job_id", record.job_id);
  if (!record.request_id.empty()) line.Str("request_id", record.request_id);
  if (!record.trace_id.empty()) line.Str("trace_id", record.trace_id);
  line.Str("peer", record.peer).Str("code", CodeLabel(code));
  if (!record.status.ok()) line.Str("message", record.status.message());
  line.Int("width", record.width).Int("height", record.height);
  if (!record.hdr_transfer.empty()) line.Str("hdr", record.hdr_transfer);
  line.Int("frames", record.frames);
  if (record.packets_skipped > 0) {
    line.Int("skipped_packets", record.packets_skipped);
  }
  if (record.timestamp_jumps > 0) {
    line.Int("timestamp_jumps", record.timestamp_jumps);
  }
  line.Int("outputs", record.outputs)
      .Int("bytes_in", record.bytes_in)
      .Int("bytes_out", record.bytes_out)
      .Seconds("seconds", record.duration);
}

}  // namespace stylizer
