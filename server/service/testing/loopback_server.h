// A Server for tests on a free loopback port: with the copying model (4
// styles), small batches and a short batch delay unless the test changes
// them; started, ready, and a stub to call it.
#ifndef STYLIZER_SERVER_SERVICE_TESTING_LOOPBACK_SERVER_H_
#define STYLIZER_SERVER_SERVICE_TESTING_LOOPBACK_SERVER_H_

#include <memory>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "server/service/server.h"
#include "server/service/testing/copy_model.h"
#include "stylizer/v1/stylizer.grpc.pb.h"

namespace stylizer::testing {

// 127.0.0.1, a free port, CopyModel(4), batches of 4 after 1 ms, 2 work
// threads.
inline Server::Options LoopbackServerOptions() {
  Server::Options o;
  o.host = "127.0.0.1";
  o.port = 0;
  o.load_model = []() -> absl::StatusOr<std::unique_ptr<StyleModel>> {
    return std::unique_ptr<StyleModel>(new CopyModel(4));
  };
  o.queue.max_batch_size = 4;
  o.queue.batch_timeout = absl::Milliseconds(1);
  o.work_threads = 2;
  return o;
}

// Builds and starts a server with `options` and waits until its model is
// loaded.
inline absl::StatusOr<std::unique_ptr<Server>> StartReadyServer(
    const Server::Options& options) {
  absl::StatusOr<std::unique_ptr<Server>> server =
      Server::BuildAndStart(options);
  if (!server.ok()) return server.status();
  if (absl::Status s = (*server)->WaitUntilReady(); !s.ok()) return s;
  return server;
}

// A plaintext stub for `server`'s port.
inline std::unique_ptr<v1::Stylizer::Stub> LoopbackStub(const Server& server) {
  return v1::Stylizer::NewStub(
      grpc::CreateChannel(absl::StrCat("127.0.0.1:", server.port()),
                          grpc::InsecureChannelCredentials()));
}

}  // namespace stylizer::testing

#endif  // STYLIZER_SERVER_SERVICE_TESTING_LOOPBACK_SERVER_H_
