// grpc.health.v1.Health; see health_service.h.
#include "server/service/health_service.h"

#include <string>
#include <utility>

#include "absl/strings/str_cat.h"

namespace stylizer {

using grpc::health::v1::HealthCheckRequest;
using grpc::health::v1::HealthCheckResponse;

// One Watch stream: sends the status it was opened with, then the latest
// status each time a write is done and the status has changed meanwhile
// (a client that reads slowly sees the last status, not every one).
class HealthService::Watcher final
    : public grpc::ServerWriteReactor<HealthCheckResponse> {
 public:
  // A registered watcher of `name` on connection `peer`, which sends
  // `status` at once.
  Watcher(HealthService* service, std::string name, std::string peer,
          ServingStatus status)
      : service_(service), name_(std::move(name)), peer_(std::move(peer)) {
    absl::MutexLock lock(&mu_);
    latest_ = status;
    WriteLocked();
  }
  // A Watch call refused with `refusal`.
  explicit Watcher(grpc::Status refusal) : service_(nullptr) {
    absl::MutexLock lock(&mu_);
    FinishLocked(std::move(refusal));
  }

  const std::string& name() const { return name_; }
  const std::string& peer() const { return peer_; }

  // Called with the service's lock held.
  void Send(ServingStatus status) {
    absl::MutexLock lock(&mu_);
    latest_ = status;
    WriteLocked();
  }

  void OnWriteDone(bool ok) override {
    absl::MutexLock lock(&mu_);
    writing_ = false;
    if (!ok) {
      FinishLocked(grpc::Status(grpc::StatusCode::CANCELLED,
                                "the watcher's stream has ended"));
      return;
    }
    WriteLocked();
  }

  void OnCancel() override {
    absl::MutexLock lock(&mu_);
    FinishLocked(grpc::Status::CANCELLED);
  }

  void OnDone() override {
    if (service_ != nullptr) service_->Remove(this);
    delete this;
  }

 private:
  void WriteLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (writing_ || finished_ || latest_ == sent_) return;
    sent_ = latest_;
    response_.set_status(latest_);
    writing_ = true;
    StartWrite(&response_);
  }

  void FinishLocked(grpc::Status status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (finished_) return;
    finished_ = true;
    Finish(std::move(status));
  }

  HealthService* const service_;
  const std::string name_;
  const std::string peer_;
  absl::Mutex mu_;
  HealthCheckResponse response_ ABSL_GUARDED_BY(mu_);
  // sent_ starts as a value no status has, so the first is always written.
  int sent_ ABSL_GUARDED_BY(mu_) = -1;
  ServingStatus latest_ ABSL_GUARDED_BY(mu_) = HealthCheckResponse::UNKNOWN;
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
};

HealthService::HealthService(const std::vector<std::string>& services,
                             int max_watchers, int max_watchers_per_connection)
    : services_(services.begin(), services.end()),
      max_watchers_(max_watchers),
      max_watchers_per_connection_(max_watchers_per_connection) {}

HealthService::~HealthService() = default;

void HealthService::SetServing(bool serving) {
  absl::MutexLock lock(&mu_);
  SetServingLocked(serving);
}

void HealthService::SetServingLocked(bool serving) {
  if (shut_down_ || serving_ == serving) return;
  serving_ = serving;
  // Watchers of "" last: whoever sees the server's status change can rely
  // on the named services having changed already.
  for (Watcher* w : watchers_) {
    if (!w->name().empty()) w->Send(StatusLocked(w->name()));
  }
  for (Watcher* w : watchers_) {
    if (w->name().empty()) w->Send(StatusLocked(w->name()));
  }
}

void HealthService::Shutdown() {
  absl::MutexLock lock(&mu_);
  SetServingLocked(false);
  shut_down_ = true;  // in the same hold: no SetServing(true) slips between
}

int HealthService::watchers() const {
  absl::MutexLock lock(&mu_);
  return static_cast<int>(watchers_.size());
}

HealthService::ServingStatus HealthService::StatusLocked(
    const std::string& service) const {
  if (!service.empty() && services_.count(service) == 0) {
    return HealthCheckResponse::SERVICE_UNKNOWN;
  }
  return serving_ ? HealthCheckResponse::SERVING
                  : HealthCheckResponse::NOT_SERVING;
}

grpc::ServerUnaryReactor* HealthService::Check(
    grpc::CallbackServerContext* context, const HealthCheckRequest* request,
    HealthCheckResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  ServingStatus status;
  {
    absl::MutexLock lock(&mu_);
    status = StatusLocked(request->service());
  }
  if (status == HealthCheckResponse::SERVICE_UNKNOWN) {
    reactor->Finish(grpc::Status(
        grpc::StatusCode::NOT_FOUND,
        absl::StrCat("this server has no service named \"", request->service(),
                     "\"; ask for \"\" (the whole server) or "
                     "stylizer.v1.Stylizer")));
  } else {
    response->set_status(status);
    reactor->Finish(grpc::Status::OK);
  }
  return reactor;
}

grpc::ServerWriteReactor<HealthCheckResponse>* HealthService::Watch(
    grpc::CallbackServerContext* context, const HealthCheckRequest* request) {
  std::string peer = context->peer();
  absl::MutexLock lock(&mu_);
  if (static_cast<int>(watchers_.size()) >= max_watchers_) {
    // UNIMPLEMENTED, not RESOURCE_EXHAUSTED: a gRPC client's health checking
    // then assumes the server healthy, where any other refusal marks it
    // unhealthy. A flood of watchers from elsewhere (they need no token)
    // would otherwise keep every new health-checking client away.
    return new Watcher(grpc::Status(
        grpc::StatusCode::UNIMPLEMENTED,
        absl::StrCat("health Watch is not offered past ", max_watchers_,
                     " streams, and this server serves that many; use "
                     "Check")));
  }
  int& on_connection = per_connection_[peer];
  if (on_connection >= max_watchers_per_connection_) {
    return new Watcher(grpc::Status(
        grpc::StatusCode::RESOURCE_EXHAUSTED,
        absl::StrCat("this connection already has ", on_connection,
                     " health Watch streams open, the limit per connection; "
                     "end one, or use Check")));
  }
  ++on_connection;
  // An unknown service gets SERVICE_UNKNOWN and the stream stays open, as
  // the protocol asks (this server's services never change, though).
  auto* watcher = new Watcher(this, request->service(), std::move(peer),
                              StatusLocked(request->service()));
  watchers_.insert(watcher);
  return watcher;
}

void HealthService::Remove(Watcher* watcher) {
  absl::MutexLock lock(&mu_);
  watchers_.erase(watcher);
  auto it = per_connection_.find(watcher->peer());
  if (it != per_connection_.end() && --it->second <= 0) {
    per_connection_.erase(it);
  }
}

}  // namespace stylizer
