// HealthService: grpc.health.v1.Health (Check and Watch, as
// grpc/doc/health-checking.md defines them), served by the server itself in
// place of gRPC's default service, for two reasons:
//   * it starts NOT_SERVING: gRPC's starts SERVING, so a probe could see
//     SERVING between the port opening and the server's first status;
//   * Watch streams are bounded. They need no token (probes carry none) and
//     never end by themselves: with gRPC's service, 4000 idle ones on one
//     connection held 65 MiB. Past max_watchers_per_connection on one
//     connection (a client's health checking opens one per connection),
//     Watch answers RESOURCE_EXHAUSTED. Past max_watchers in all (0: Watch
//     off), it answers UNIMPLEMENTED, which a gRPC client's health checking
//     takes as "assume healthy": a flood of watchers from elsewhere cannot
//     keep new clients away. Check always answers.
// The statuses of the known services ("" for the whole server, and the
// names given) change together; Shutdown fixes them at NOT_SERVING.
#ifndef STYLIZER_SERVER_SERVICE_HEALTH_SERVICE_H_
#define STYLIZER_SERVER_SERVICE_HEALTH_SERVICE_H_

#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "grpc/health/v1/health.grpc.pb.h"

namespace stylizer {

class HealthService final : public grpc::health::v1::Health::CallbackService {
 public:
  using ServingStatus = grpc::health::v1::HealthCheckResponse::ServingStatus;

  // `services`: the named services besides "" (the whole server).
  HealthService(const std::vector<std::string>& services, int max_watchers,
                int max_watchers_per_connection);
  // The gRPC server must have ended every call first (its Shutdown).
  ~HealthService() override;

  // Every known service SERVING or NOT_SERVING; sent to every watcher.
  // Ignored after Shutdown.
  void SetServing(bool serving);
  // NOT_SERVING from now on. Watch streams stay open (their clients see
  // the change) until the gRPC server ends them.
  void Shutdown();

  int watchers() const;

  grpc::ServerUnaryReactor* Check(
      grpc::CallbackServerContext* context,
      const grpc::health::v1::HealthCheckRequest* request,
      grpc::health::v1::HealthCheckResponse* response) override;
  grpc::ServerWriteReactor<grpc::health::v1::HealthCheckResponse>* Watch(
      grpc::CallbackServerContext* context,
      const grpc::health::v1::HealthCheckRequest* request) override;

 private:
  class Watcher;

  // The status of `service`, SERVICE_UNKNOWN for a name not served.
  ServingStatus StatusLocked(const std::string& service) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void SetServingLocked(bool serving) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Remove(Watcher* watcher);

  const std::set<std::string> services_;
  const int max_watchers_;
  const int max_watchers_per_connection_;
  mutable absl::Mutex mu_;
  bool serving_ ABSL_GUARDED_BY(mu_) = false;
  bool shut_down_ ABSL_GUARDED_BY(mu_) = false;
  std::set<Watcher*> watchers_ ABSL_GUARDED_BY(mu_);
  // Watchers per connection (gRPC's peer address, client address and port).
  std::map<std::string, int> per_connection_ ABSL_GUARDED_BY(mu_);
};

}  // namespace stylizer

#endif  // STYLIZER_SERVER_SERVICE_HEALTH_SERVICE_H_
