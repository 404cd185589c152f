// The client library's calls: their deadlines, metadata, cancelling and
// retries, the unary calls and the health check; see stylizer_client.h (the
// connection: stylizer_client_connect.cc; StylizeVideo:
// stylizer_client_video.cc).
#include "client/stylizer_client.h"

#include <algorithm>
#include <set>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "client/rpc_errors.h"
#include "grpc/health/v1/health.grpc.pb.h"

namespace stylizer::client {
namespace {

using stylizer::v1::GetModelInfoRequest;
using stylizer::v1::ModelInfo;
using stylizer::v1::StylizeImageRequest;
using stylizer::v1::StylizeImageResponse;

constexpr absl::Duration kDefaultHealthTimeout = absl::Seconds(5);

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
  return FromRpcStatus(status, options_.server, options_.request_id,
                       token_.size());
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

}  // namespace stylizer::client
