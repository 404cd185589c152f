// The client library's connection, unary calls, health check and the
// concurrent upload/download of StylizeVideo; see stylizer_client.h.
#include "client/stylizer_client.h"

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/support/channel_arguments.h>

#include <atomic>
#include <future>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "client/output_files.h"
#include "client/rpc_errors.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "server/service/pem_check.h"
#include "server/service/request_id.h"
#include "server/service/token_text.h"

namespace stylizer::client {
namespace {

using stylizer::v1::GetModelInfoRequest;
using stylizer::v1::ModelInfo;
using stylizer::v1::StylizeImageRequest;
using stylizer::v1::StylizeImageResponse;
using stylizer::v1::StylizeVideoRequest;
using stylizer::v1::StylizeVideoResponse;
using stylizer::v1::VideoJob;

constexpr absl::Duration kDefaultHealthTimeout = absl::Seconds(5);

// Calls are spread over every address the target resolves to, one call to
// the next ready replica in turn, and a replica whose health (a Watch of the
// whole server, "", which every standard health service answers) is not
// SERVING gets no new calls until it is again. gRPC's core runs the health
// watch itself; it needs a policy that honours it (round_robin does, the
// default pick_first does not). A server without the health service counts
// as healthy.
constexpr char kBalancedServiceConfig[] = R"json({
  "loadBalancingConfig": [{"round_robin": {}}],
  "healthCheckConfig": {"serviceName": ""}
})json";

// The health command's channel: round_robin without health checking, so that
// a NOT_SERVING replica can still be asked (and say so).
constexpr char kHealthServiceConfig[] = R"json({
  "loadBalancingConfig": [{"round_robin": {}}]
})json";

absl::StatusOr<std::string> ReadPem(const std::string& path,
                                    absl::string_view what) {
  auto data = ReadFile(path);
  if (!data.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot read the ", what, ": ", data.status().message()));
  }
  return data;
}

}  // namespace

absl::string_view HealthStateName(HealthState state) {
  switch (state) {
    case HealthState::kServing:
      return "SERVING";
    case HealthState::kNotServing:
      return "NOT_SERVING";
    case HealthState::kServiceUnknown:
      return "SERVICE_UNKNOWN";
    case HealthState::kUnknown:
      break;
  }
  return "UNKNOWN";
}

absl::StatusOr<std::unique_ptr<StylizerClient>> StylizerClient::Create(
    const ClientOptions& options) {
  if (options.server.empty()) {
    return UsageError(
        "--server is empty; give host:port or a gRPC target such as "
        "dns:///name:port or ipv4:addr:port,addr:port");
  }
  if (options.cert_file.empty() != options.key_file.empty()) {
    return UsageError("--cert and --key go together (mutual TLS)");
  }
  if (!options.request_id.empty()) {
    if (options.request_id.size() > kMaxRequestIdBytes) {
      return UsageError(absl::StrCat(
          "--request_id has ", options.request_id.size(),
          " characters; the server keeps at most ", kMaxRequestIdBytes));
    }
    for (size_t i = 0; i < options.request_id.size(); ++i) {
      const unsigned char c = static_cast<unsigned char>(options.request_id[i]);
      if (c < 0x21 || c > 0x7e) {
        return UsageError(absl::StrFormat(
            "--request_id holds byte 0x%02x at position %d; a request id is "
            "visible ASCII characters, without spaces",
            c, i + 1));
      }
    }
  }
  std::string token;
  if (!options.token_file.empty()) {
    auto data = ReadFile(options.token_file);
    if (!data.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "cannot read the token file: ", data.status().message()));
    }
    token = std::string(absl::StripAsciiWhitespace(*data));
    if (token.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("the token file ", options.token_file, " is empty"));
    }
    if (absl::Status text = CheckTokenText(token); !text.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "the token file ", options.token_file, ": ", text.message()));
    }
  }
  std::shared_ptr<grpc::ChannelCredentials> creds;
  const bool tls = options.tls || !options.ca_file.empty() ||
                   !options.cert_file.empty() ||
                   !options.tls_server_name.empty();
  if (tls) {
    grpc::SslCredentialsOptions ssl;
    // Checked here: gRPC would log lines of its own at every attempt, and
    // each would fail as if the server were unavailable.
    if (!options.ca_file.empty()) {
      auto ca = ReadPem(options.ca_file, "CA file (--ca)");
      if (!ca.ok()) return ca.status();
      if (absl::Status s = CheckCertificates(*ca, "CA file (--ca)"); !s.ok()) {
        return s;
      }
      ssl.pem_root_certs = *ca;
    }
    if (!options.cert_file.empty()) {
      auto cert = ReadPem(options.cert_file, "client certificate (--cert)");
      if (!cert.ok()) return cert.status();
      auto key = ReadPem(options.key_file, "client key (--key)");
      if (!key.ok()) return key.status();
      if (absl::Status s = CheckCertificateAndKey(
              *cert, *key, "client certificate (--cert)", "client key (--key)");
          !s.ok()) {
        return s;
      }
      ssl.pem_cert_chain = *cert;
      ssl.pem_private_key = *key;
    }
    creds = grpc::SslCredentials(ssl);
  } else {
    creds = grpc::InsecureChannelCredentials();
  }
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(-1);
  args.SetMaxSendMessageSize(-1);
  // Reconnect quickly so that retries after UNAVAILABLE can succeed.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 200);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 200);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 4000);
  if (tls && !options.tls_server_name.empty()) {
    args.SetSslTargetNameOverride(options.tls_server_name);
  }
  grpc::ChannelArguments health_args = args;
  args.SetServiceConfigJSON(kBalancedServiceConfig);
  health_args.SetServiceConfigJSON(kHealthServiceConfig);
  auto channel = grpc::CreateCustomChannel(options.server, creds, args);
  auto health_channel =
      grpc::CreateCustomChannel(options.server, creds, health_args);
  return std::unique_ptr<StylizerClient>(
      new StylizerClient(std::move(channel), std::move(health_channel), options,
                         std::move(token)));
}

std::unique_ptr<StylizerClient> StylizerClient::CreateForChannel(
    std::shared_ptr<grpc::Channel> channel, const ClientOptions& options) {
  auto health_channel = channel;
  return std::unique_ptr<StylizerClient>(new StylizerClient(
      std::move(channel), std::move(health_channel), options, ""));
}

StylizerClient::StylizerClient(std::shared_ptr<grpc::Channel> channel,
                               std::shared_ptr<grpc::Channel> health_channel,
                               ClientOptions options, std::string token)
    : channel_(std::move(channel)),
      health_channel_(std::move(health_channel)),
      stub_(stylizer::v1::Stylizer::NewStub(channel_)),
      options_(std::move(options)),
      token_(std::move(token)) {}

absl::Time StylizerClient::CallDeadline() const {
  absl::Time deadline = job_deadline_;
  if (options_.timeout > absl::ZeroDuration()) {
    deadline = std::min(deadline, absl::Now() + options_.timeout);
  }
  return deadline;
}

void StylizerClient::Prepare(grpc::ClientContext* context,
                             std::optional<absl::Time> given) const {
  const absl::Time deadline =
      given.has_value() ? std::min(*given, job_deadline_) : CallDeadline();
  if (deadline != absl::InfiniteFuture()) {
    context->set_deadline(absl::ToChronoTime(deadline));
  }
  if (!token_.empty()) {
    context->AddMetadata("authorization", absl::StrCat("Bearer ", token_));
  }
  if (!options_.request_id.empty()) {
    context->AddMetadata("x-request-id", options_.request_id);
  }
}

absl::Status StylizerClient::Convert(const grpc::Status& status) const {
  return FromRpcStatus(status, options_.server, options_.request_id);
}

void StylizerClient::CancelAll() {
  absl::MutexLock lock(&mu_);
  cancelled_ = true;
  for (grpc::ClientContext* ctx : active_) ctx->TryCancel();
  // Lock order: parent, then child (Child() and the destructor agree).
  for (StylizerClient* child : children_) child->CancelAll();
}

std::unique_ptr<StylizerClient> StylizerClient::Child(absl::Time deadline) {
  std::unique_ptr<StylizerClient> child(
      new StylizerClient(channel_, health_channel_, options_, token_));
  child->parent_ = this;
  child->job_deadline_ = std::min(deadline, job_deadline_);
  absl::MutexLock lock(&mu_);
  children_.insert(child.get());
  if (cancelled_) child->CancelAll();
  return child;
}

StylizerClient::~StylizerClient() {
  if (parent_ != nullptr) {
    absl::MutexLock lock(&parent_->mu_);
    parent_->children_.erase(this);
  }
}

bool StylizerClient::Track(grpc::ClientContext* context) {
  absl::MutexLock lock(&mu_);
  if (cancelled_) return false;
  active_.insert(context);
  return true;
}

void StylizerClient::Untrack(grpc::ClientContext* context) {
  absl::MutexLock lock(&mu_);
  active_.erase(context);
}

absl::Status StylizerClient::Retry(absl::FunctionRef<AttemptResult()> attempt,
                                   const RetryNotice& notice,
                                   absl::Time give_up_at) {
  RetryPolicy policy = options_.retry;
  policy.give_up_at = std::min({policy.give_up_at, give_up_at, job_deadline_});
  return RunWithRetry(
      policy, attempt,
      [this](absl::Duration wait) {
        absl::MutexLock lock(&mu_);
        mu_.AwaitWithTimeout(absl::Condition(&cancelled_), wait);
      },
      notice);
}

absl::Status StylizerClient::Finished(const grpc::Status& status) {
  {
    absl::MutexLock lock(&mu_);
    if (cancelled_) return absl::CancelledError("interrupted");
  }
  return Convert(status);
}

absl::StatusOr<ModelInfo> StylizerClient::GetModelInfo(
    const RetryNotice& notice) {
  ModelInfo info;
  absl::Status s = Retry(
      [&] {
        grpc::ClientContext ctx;
        Prepare(&ctx);
        if (!Track(&ctx))
          return AttemptResult{absl::CancelledError("interrupted")};
        const grpc::Status st =
            stub_->GetModelInfo(&ctx, GetModelInfoRequest(), &info);
        Untrack(&ctx);
        return AttemptResult{Finished(st)};
      },
      notice);
  if (!s.ok()) return s;
  return info;
}

absl::StatusOr<StylizeImageResponse> StylizerClient::StylizeImage(
    const StylizeImageRequest& request) {
  StylizeImageResponse response;
  absl::Status s = Retry([&] {
    grpc::ClientContext ctx;
    Prepare(&ctx);
    if (!Track(&ctx)) return AttemptResult{absl::CancelledError("interrupted")};
    const grpc::Status st = stub_->StylizeImage(&ctx, request, &response);
    Untrack(&ctx);
    return AttemptResult{Finished(st)};
  });
  if (!s.ok()) return s;
  return response;
}

std::set<std::string> StylizerClient::AwaitReplicas(int count,
                                                    absl::Duration wait) {
  std::set<std::string> seen;
  const absl::Time deadline = absl::Now() + wait;
  while (static_cast<int>(seen.size()) < count && absl::Now() < deadline) {
    grpc::ClientContext ctx;
    Prepare(&ctx);
    ctx.set_deadline(absl::ToChronoTime(deadline));
    if (!Track(&ctx)) break;
    ModelInfo info;
    const grpc::Status st =
        stub_->GetModelInfo(&ctx, GetModelInfoRequest(), &info);
    Untrack(&ctx);
    const size_t before = seen.size();
    if (st.ok()) seen.insert(ctx.peer());
    // Nothing new: let the other connections come up.
    if (seen.size() == before) absl::SleepFor(absl::Milliseconds(20));
  }
  return seen;
}

absl::StatusOr<HealthState> StylizerClient::CheckHealth(
    absl::string_view service) {
  auto health = grpc::health::v1::Health::NewStub(health_channel_);
  grpc::health::v1::HealthCheckRequest request;
  request.set_service(std::string(service));
  grpc::health::v1::HealthCheckResponse response;
  absl::Status s = Retry([&] {
    grpc::ClientContext ctx;
    Prepare(&ctx);
    if (options_.timeout <= absl::ZeroDuration()) {
      ctx.set_deadline(absl::ToChronoTime(absl::Now() + kDefaultHealthTimeout));
    }
    if (!Track(&ctx)) return AttemptResult{absl::CancelledError("interrupted")};
    const grpc::Status st = health->Check(&ctx, request, &response);
    Untrack(&ctx);
    if (st.error_code() == grpc::StatusCode::NOT_FOUND) {
      return AttemptResult{absl::NotFoundError("unknown service")};
    }
    return AttemptResult{Finished(st)};
  });
  if (absl::IsNotFound(s)) return HealthState::kServiceUnknown;
  if (!s.ok()) return s;
  using grpc::health::v1::HealthCheckResponse;
  switch (response.status()) {
    case HealthCheckResponse::SERVING:
      return HealthState::kServing;
    case HealthCheckResponse::NOT_SERVING:
      return HealthState::kNotServing;
    case HealthCheckResponse::SERVICE_UNKNOWN:
      return HealthState::kServiceUnknown;
    default:
      return HealthState::kUnknown;
  }
}

std::unique_ptr<grpc::ClientReaderWriter<stylizer::v1::StylizeFramesRequest,
                                         stylizer::v1::StylizeFramesResponse>>
StylizerClient::OpenFrameStream(grpc::ClientContext* context,
                                std::optional<absl::Time> deadline) {
  Prepare(context);
  if (deadline.has_value()) {
    context->set_deadline(*deadline == absl::InfiniteFuture()
                              ? std::chrono::system_clock::time_point::max()
                              : absl::ToChronoTime(*deadline));
  }
  return stub_->StylizeFrames(context);
}

absl::Status StylizerClient::StylizeVideo(const VideoJob& job,
                                          ByteSource* source,
                                          VideoObserver* observer) {
  // --timeout bounds the whole job, its retries and their waits included.
  const absl::Time deadline = CallDeadline();
  return Retry([&] { return VideoAttempt(job, source, observer, deadline); },
               [observer](const absl::Status& why, absl::Duration wait,
                          int retry) { observer->OnRetry(why, wait, retry); },
               deadline);
}

AttemptResult StylizerClient::VideoAttempt(const VideoJob& job,
                                           ByteSource* source,
                                           VideoObserver* observer,
                                           absl::Time deadline) {
  AttemptResult result;
  if (absl::Status s = source->Rewind(); !s.ok()) {
    result.status = s;
    return result;
  }
  grpc::ClientContext ctx;
  Prepare(&ctx, deadline);
  if (!Track(&ctx)) {
    result.status = absl::CancelledError("interrupted");
    return result;
  }
  auto stream = stub_->StylizeVideo(&ctx);

  std::atomic<bool> stop{false};
  absl::Status upload_status;  // written by the uploader, read after join()
  std::thread uploader([&] {
    StylizeVideoRequest first;
    *first.mutable_job() = job;
    if (job.input_size() == 0)
      first.mutable_job()->set_input_size(source->size());
    if (!stream->Write(first)) return;  // the call ended; Finish() says why
    std::string buf(options_.upload_chunk_bytes, '\0');
    uint64_t sent = 0;
    while (!stop.load()) {
      auto n = source->Read(buf.data(), buf.size(), stop);
      if (stop.load()) return;  // the call ended; Finish() says why
      if (!n.ok()) {
        upload_status = n.status();
        ctx.TryCancel();
        return;
      }
      if (*n == 0) break;
      StylizeVideoRequest chunk;
      chunk.set_chunk(buf.data(), *n);
      if (!stream->Write(chunk)) return;
      sent += *n;
      observer->OnUploadProgress(sent, source->size());
    }
    if (!stop.load()) stream->WritesDone();
  });

  absl::Status observer_status;
  bool summary_seen = false;
  StylizeVideoResponse response;
  while (stream->Read(&response)) {
    if (!result.output_started) observer->OnPeer(ctx.peer());
    result.output_started = true;
    if (summary_seen) {
      // The summary closes the job: bytes after it (to standard output,
      // say) would follow the check that the movie was complete.
      observer_status = absl::InternalError(
          "the server sent a message after the job's summary");
      stop.store(true);
      ctx.TryCancel();
      break;
    }
    switch (response.msg_case()) {
      case StylizeVideoResponse::kAccepted:
        observer_status = observer->OnAccepted(response.accepted());
        break;
      case StylizeVideoResponse::kProgress:
        observer->OnProgress(response.progress());
        break;
      case StylizeVideoResponse::kChunk:
        observer_status = observer->OnChunk(response.chunk().output_index(),
                                            response.chunk().data());
        break;
      case StylizeVideoResponse::kSummary:
        summary_seen = true;
        observer_status = observer->OnSummary(response.summary());
        break;
      case StylizeVideoResponse::MSG_NOT_SET:
        break;
    }
    if (!observer_status.ok()) {
      stop.store(true);
      ctx.TryCancel();
      break;
    }
  }
  // The call is over: an uploader still waiting for a pipe's next bytes
  // gives up (within 100 ms) rather than keeping the command alive.
  stop.store(true);
  uploader.join();
  const grpc::Status finish = stream->Finish();
  Untrack(&ctx);
  result.no_retry_reason = source->NoRewindReason();
  if (!observer_status.ok()) {
    result.status = observer_status;
  } else if (!upload_status.ok()) {
    result.status = upload_status;
  } else if (!finish.ok()) {
    result.status = Finished(finish);
  } else if (!summary_seen) {
    result.status = absl::InternalError(
        "the server ended the job without a summary; the outputs may be "
        "incomplete");
  }
  return result;
}

}  // namespace stylizer::client
