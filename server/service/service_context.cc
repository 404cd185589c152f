// Shared state of the Stylizer service; see service_context.h.
#include "server/service/service_context.h"

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "grpcpp/security/auth_context.h"
#include "server/metrics/metrics.h"
#include "server/service/client_names.h"
#include "server/service/image_codec.h"
#include "server/service/retry_info.h"
#include "server/service/status_util.h"
#include "server/service/token_auth.h"

namespace stylizer {
namespace {

// Retry hints (retry_info.h). A stream slot frees when some call ends: no
// telling when, so a client polls about once a second. A starting server is
// SERVING within seconds.
constexpr absl::Duration kStreamSlotRetryDelay = absl::Seconds(1);
constexpr absl::Duration kStartingRetryDelay = absl::Seconds(1);

}  // namespace

ServiceContext::ServiceContext(const ServiceLimits& limits, WorkPool* pool,
                               const TokenAuth* auth, Metrics* metrics,
                               bool require_client_certificate,
                               MemoryBudget* memory_budget)
    : limits_(limits),
      pool_(pool),
      auth_(auth),
      metrics_(metrics),
      require_client_certificate_(require_client_certificate),
      memory_budget_(memory_budget),
      timers_(std::make_unique<TimerThread>()) {}

void ServiceContext::SetServing(const ModelDescription* model, JobQueue* queue,
                                int max_batch_size) {
  model_ = model;
  {
    absl::MutexLock lock(&queue_mu_);
    queue_ = queue;
  }
  max_batch_size_ = max_batch_size;
  ServingState expected = ServingState::kStarting;
  state_.compare_exchange_strong(expected, ServingState::kServing,
                                 std::memory_order_acq_rel);
}

absl::StatusOr<std::unique_ptr<Job>> ServiceContext::OpenJob(
    JobOptions options) const {
  // Held while the queue opens the job (it does not block), so that
  // ReleaseQueue waits for it.
  absl::MutexLock lock(&queue_mu_);
  if (queue_ == nullptr) {
    return absl::UnavailableError("the server is shutting down");
  }
  return queue_->OpenJob(std::move(options));
}

absl::Status ServiceContext::CheckPictureFits(v1::ImageFormat format, int width,
                                              int height,
                                              int64_t styles) const {
  if (absl::Status s = CheckOutputs(format, width, height, styles,
                                    limits_.max_response_bytes);
      !s.ok()) {
    return s;
  }
  absl::MutexLock lock(&queue_mu_);
  if (queue_ == nullptr) return absl::OkStatus();
  return queue_->CheckFrameFits(width, height, styles);
}

void ServiceContext::ReleaseQueue() {
  absl::MutexLock lock(&queue_mu_);
  queue_ = nullptr;
}

void ServiceContext::SetDraining() {
  state_.store(ServingState::kDraining, std::memory_order_release);
}

grpc::Status ServiceContext::CheckToken(
    const grpc::CallbackServerContext& context) const {
  if (auth_ == nullptr) return grpc::Status::OK;
  absl::string_view authorization;
  const auto& metadata = context.client_metadata();
  // With two, the first decided: behind a proxy that adds its own, the
  // client's header could outrank the proxy's.
  if (const size_t n = metadata.count("authorization"); n > 1) {
    return grpc::Status(
        grpc::StatusCode::UNAUTHENTICATED,
        absl::StrCat("the call carries ", n,
                     " authorization headers; send exactly one (a proxy in "
                     "front may be adding its own)"));
  }
  auto it = metadata.find("authorization");
  if (it != metadata.end()) {
    authorization = absl::string_view(it->second.data(), it->second.size());
  }
  if (absl::Status s = auth_->Check(authorization); !s.ok()) {
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                        std::string(s.message()));
  }
  return grpc::Status::OK;
}

grpc::Status ServiceContext::StillAuthorized(
    const grpc::CallbackServerContext& context) const {
  grpc::Status token = CheckToken(context);
  if (token.ok()) return token;
  return grpc::Status(
      grpc::StatusCode::UNAUTHENTICATED,
      absl::StrCat("the token this stream was opened with is no longer "
                   "accepted (it left the server's token file): ",
                   token.error_message()));
}

grpc::Status ServiceContext::Admit(
    const grpc::CallbackServerContext& context) const {
  if (require_client_certificate_) {
    // The TLS layer verified any certificate that was sent; here we insist
    // that one was sent (health checks may come without one).
    std::shared_ptr<const grpc::AuthContext> auth = context.auth_context();
    if (auth == nullptr || !auth->IsPeerAuthenticated()) {
      return grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                          "this server requires a client certificate signed "
                          "by its client CA (mutual TLS)");
    }
    if (absl::Status named = AdmitClientNames(*auth, allowed_client_names_);
        !named.ok()) {
      return ToGrpcStatus(named);
    }
  }
  if (grpc::Status token = CheckToken(context); !token.ok()) return token;
  switch (state()) {
    case ServingState::kStarting:
      return ToGrpcStatus(WithRetryDelay(
          absl::UnavailableError("the model is still loading; retry in a few "
                                 "seconds (health reports SERVING when "
                                 "ready)"),
          kStartingRetryDelay));
    case ServingState::kDraining:
      return grpc::Status(grpc::StatusCode::UNAVAILABLE,
                          "the server is shutting down; retry on another "
                          "replica");
    case ServingState::kServing:
      break;
  }
  return grpc::Status::OK;
}

absl::StatusOr<ResolvedStyles> ServiceContext::ResolveStyles(
    const google::protobuf::RepeatedPtrField<v1::Style>& styles) const {
  return stylizer::ResolveStyles(styles, num_styles(),
                                 limits_.max_styles_per_request);
}

absl::StatusOr<MemoryBudget::Reservation> ServiceContext::ReserveMemory(
    int64_t bytes, absl::string_view what, int64_t held_by_caller) const {
  if (memory_budget_ == nullptr) return MemoryBudget::Reservation();
  return memory_budget_->Reserve(bytes, what, held_by_caller);
}

ServiceContext::StreamSlot::~StreamSlot() {
  if (context_->metrics_ != nullptr) context_->metrics_->StreamEnded(method_);
  absl::MutexLock lock(&context_->mu_);
  --context_->active_streams_;
}

absl::StatusOr<std::unique_ptr<ServiceContext::StreamSlot>>
ServiceContext::AcquireStreamSlot(absl::string_view method) {
  {
    absl::MutexLock lock(&mu_);
    if (active_streams_ >= limits_.max_concurrent_streams) {
      return WithRetryDelay(
          absl::ResourceExhaustedError(absl::StrCat(
              "the server already serves ", active_streams_,
              " streams (its limit); retry later or on another replica")),
          kStreamSlotRetryDelay);
    }
    ++active_streams_;
  }
  if (metrics_ != nullptr) metrics_->StreamStarted(method);
  return std::unique_ptr<StreamSlot>(new StreamSlot(this, std::string(method)));
}

absl::Time CallDeadline(const grpc::CallbackServerContext& context) {
  const std::chrono::system_clock::time_point deadline = context.deadline();
  if (deadline == std::chrono::system_clock::time_point::max()) {
    return absl::InfiniteFuture();
  }
  return absl::FromChrono(deadline);
}

grpc::Status CancelledCallStatus(const ServiceContext& service,
                                 const grpc::CallbackServerContext& context,
                                 absl::string_view message) {
  if (service.cancelling_for_drain()) {
    return grpc::Status(grpc::StatusCode::UNAVAILABLE,
                        "the server is shutting down and the call did not "
                        "end within its drain timeout (--drain_timeout)");
  }
  // The client's cancel at its deadline arrives a moment before the server's
  // copy of that deadline, which counts from when the call arrived: a cancel
  // this close to the deadline is the deadline.
  constexpr absl::Duration kDeadlineSlack = absl::Milliseconds(100);
  if (absl::Now() + kDeadlineSlack >= CallDeadline(context)) {
    return grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED,
                        "the call's deadline passed");
  }
  return grpc::Status(grpc::StatusCode::CANCELLED, std::string(message));
}

grpc::Status StreamIdleStatus(absl::Duration timeout, bool stalled_write) {
  return grpc::Status(
      grpc::StatusCode::DEADLINE_EXCEEDED,
      absl::StrCat(stalled_write ? "the client read none of the server's "
                                   "messages for "
                                 : "the client sent nothing for ",
                   absl::FormatDuration(timeout),
                   " (the server's stream idle timeout, "
                   "--stream_idle_timeout); the stream is closed"));
}

void ServiceContext::CallStarted() {
  absl::MutexLock lock(&mu_);
  ++active_calls_;
}

void ServiceContext::CallEnded() {
  absl::MutexLock lock(&mu_);
  --active_calls_;
}

int ServiceContext::active_calls() const {
  absl::MutexLock lock(&mu_);
  return active_calls_;
}

bool ServiceContext::WaitUntilIdle(absl::Time deadline) const {
  absl::MutexLock lock(&mu_);
  auto idle = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return active_calls_ == 0;
  };
  return mu_.AwaitWithDeadline(absl::Condition(&idle), deadline);
}

int ServiceContext::active_streams() const {
  absl::MutexLock lock(&mu_);
  return active_streams_;
}

}  // namespace stylizer
