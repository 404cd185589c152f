// Tests of the health service on a real gRPC server and channel.
#include "server/service/health_service.h"

#include <memory>
#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "grpc/grpc.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server_builder.h"
#include "grpcpp/support/channel_arguments.h"
#include "gtest/gtest.h"

namespace stylizer {
namespace {

using grpc::health::v1::Health;
using grpc::health::v1::HealthCheckRequest;
using grpc::health::v1::HealthCheckResponse;
using ::testing::HasSubstr;

constexpr char kService[] = "stylizer.v1.Stylizer";

class HealthServiceTest : public ::testing::Test {
 protected:
  void Start(int max_watchers, int per_connection = 16) {
    health_ = std::make_unique<HealthService>(
        std::vector<std::string>{kService}, max_watchers, per_connection);
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                             &port);
    builder.RegisterService(health_.get());
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    address_ = "127.0.0.1:" + std::to_string(port);
    stub_ = NewConnection();
  }

  // A stub on a connection of its own (channels share none with a local
  // subchannel pool).
  std::unique_ptr<Health::Stub> NewConnection() {
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    return Health::NewStub(grpc::CreateCustomChannel(
        address_, grpc::InsecureChannelCredentials(), args));
  }

  void TearDown() override {
    if (server_ != nullptr) server_->Shutdown(std::chrono::system_clock::now());
    server_.reset();
    health_.reset();
  }

  grpc::Status Check(const std::string& service,
                     HealthCheckResponse::ServingStatus* status) {
    grpc::ClientContext context;
    HealthCheckRequest request;
    request.set_service(service);
    HealthCheckResponse response;
    grpc::Status s = stub_->Check(&context, request, &response);
    *status = response.status();
    return s;
  }

  struct Watch {
    grpc::ClientContext context;
    std::unique_ptr<grpc::ClientReader<HealthCheckResponse>> reader;
    // The next status, or -1 when the stream has ended.
    int Next() {
      HealthCheckResponse response;
      return reader->Read(&response) ? response.status() : -1;
    }
  };

  std::unique_ptr<Watch> OpenWatch(const std::string& service,
                                   Health::Stub* stub = nullptr) {
    auto watch = std::make_unique<Watch>();
    HealthCheckRequest request;
    request.set_service(service);
    watch->reader =
        (stub != nullptr ? stub : stub_.get())->Watch(&watch->context, request);
    return watch;
  }

  static void End(Watch* watch) {
    watch->context.TryCancel();
    while (watch->Next() != -1) {
    }
    watch->reader->Finish();
  }

  bool WaitForWatchers(int n) {
    const absl::Time deadline = absl::Now() + absl::Seconds(20);
    while (health_->watchers() != n) {
      if (absl::Now() > deadline) return false;
      absl::SleepFor(absl::Milliseconds(5));
    }
    return true;
  }

  std::unique_ptr<HealthService> health_;
  std::unique_ptr<grpc::Server> server_;
  std::string address_;
  std::unique_ptr<Health::Stub> stub_;
};

// gRPC's default service starts SERVING; this one NOT_SERVING, so no probe
// sees SERVING before the server has said so.
TEST_F(HealthServiceTest, StartsNotServingAndNamesUnknownServices) {
  Start(4);
  HealthCheckResponse::ServingStatus status;
  ASSERT_TRUE(Check("", &status).ok());
  EXPECT_EQ(status, HealthCheckResponse::NOT_SERVING);
  ASSERT_TRUE(Check(kService, &status).ok());
  EXPECT_EQ(status, HealthCheckResponse::NOT_SERVING);
  grpc::Status unknown = Check("stylizer.v2.Other", &status);
  EXPECT_EQ(unknown.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_THAT(unknown.error_message(), HasSubstr("stylizer.v2.Other"));

  health_->SetServing(true);
  ASSERT_TRUE(Check("", &status).ok());
  EXPECT_EQ(status, HealthCheckResponse::SERVING);
  ASSERT_TRUE(Check(kService, &status).ok());
  EXPECT_EQ(status, HealthCheckResponse::SERVING);
}

TEST_F(HealthServiceTest, WatchSendsEachChangeAndUnknownStaysOpen) {
  Start(4);
  std::unique_ptr<Watch> server = OpenWatch("");
  std::unique_ptr<Watch> named = OpenWatch(kService);
  std::unique_ptr<Watch> unknown = OpenWatch("nope");
  EXPECT_EQ(server->Next(), HealthCheckResponse::NOT_SERVING);
  EXPECT_EQ(named->Next(), HealthCheckResponse::NOT_SERVING);
  EXPECT_EQ(unknown->Next(), HealthCheckResponse::SERVICE_UNKNOWN);
  ASSERT_TRUE(WaitForWatchers(3));

  health_->SetServing(true);
  EXPECT_EQ(server->Next(), HealthCheckResponse::SERVING);
  EXPECT_EQ(named->Next(), HealthCheckResponse::SERVING);
  health_->SetServing(false);
  EXPECT_EQ(server->Next(), HealthCheckResponse::NOT_SERVING);
  EXPECT_EQ(named->Next(), HealthCheckResponse::NOT_SERVING);

  // Shutdown: NOT_SERVING for good, streams open until the server ends them.
  health_->SetServing(true);
  EXPECT_EQ(server->Next(), HealthCheckResponse::SERVING);
  health_->Shutdown();
  EXPECT_EQ(server->Next(), HealthCheckResponse::NOT_SERVING);
  health_->SetServing(true);
  HealthCheckResponse::ServingStatus status;
  ASSERT_TRUE(Check("", &status).ok());
  EXPECT_EQ(status, HealthCheckResponse::NOT_SERVING);

  server_->Shutdown(std::chrono::system_clock::now());
  for (Watch* w : {server.get(), named.get(), unknown.get()}) {
    while (w->Next() != -1) {
    }
    EXPECT_FALSE(w->reader->Finish().ok());
  }
  EXPECT_EQ(health_->watchers(), 0);
}

// Watch streams need no token and stay open: they are bounded. Past the
// bound, Watch is UNIMPLEMENTED, which a gRPC client's health checking takes
// as "assume healthy" (RESOURCE_EXHAUSTED would keep every new client away
// while the bound is full); Check still answers; a freed place can be taken
// again.
TEST_F(HealthServiceTest, WatchStreamsAreBounded) {
  Start(2);
  std::unique_ptr<Watch> first = OpenWatch("");
  std::unique_ptr<Watch> second = OpenWatch(kService);
  EXPECT_EQ(first->Next(), HealthCheckResponse::NOT_SERVING);
  EXPECT_EQ(second->Next(), HealthCheckResponse::NOT_SERVING);
  ASSERT_TRUE(WaitForWatchers(2));

  std::unique_ptr<Watch> third = OpenWatch("");
  EXPECT_EQ(third->Next(), -1);
  grpc::Status refused = third->reader->Finish();
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::UNIMPLEMENTED);
  EXPECT_THAT(refused.error_message(), HasSubstr("past 2 streams"));
  HealthCheckResponse::ServingStatus status;
  EXPECT_TRUE(Check("", &status).ok());

  End(first.get());
  ASSERT_TRUE(WaitForWatchers(1));
  std::unique_ptr<Watch> again = OpenWatch("");
  EXPECT_EQ(again->Next(), HealthCheckResponse::NOT_SERVING);
  ASSERT_TRUE(WaitForWatchers(2));
  health_->SetServing(true);
  EXPECT_EQ(again->Next(), HealthCheckResponse::SERVING);
  EXPECT_EQ(second->Next(), HealthCheckResponse::SERVING);
  End(second.get());
  End(again.get());
}

// One connection cannot take them all: a client's health checking needs one
// per connection, so more is a leak, and other connections still get theirs.
TEST_F(HealthServiceTest, WatchStreamsAreBoundedPerConnection) {
  Start(10, 2);
  std::unique_ptr<Watch> a1 = OpenWatch("");
  std::unique_ptr<Watch> a2 = OpenWatch(kService);
  EXPECT_EQ(a1->Next(), HealthCheckResponse::NOT_SERVING);
  EXPECT_EQ(a2->Next(), HealthCheckResponse::NOT_SERVING);
  std::unique_ptr<Watch> a3 = OpenWatch("");
  EXPECT_EQ(a3->Next(), -1);
  grpc::Status refused = a3->reader->Finish();
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(refused.error_message(), HasSubstr("this connection already"));

  std::unique_ptr<Health::Stub> other = NewConnection();
  std::unique_ptr<Watch> b1 = OpenWatch("", other.get());
  EXPECT_EQ(b1->Next(), HealthCheckResponse::NOT_SERVING);
  ASSERT_TRUE(WaitForWatchers(3));
  End(a1.get());
  ASSERT_TRUE(WaitForWatchers(2));
  std::unique_ptr<Watch> a4 = OpenWatch("");
  EXPECT_EQ(a4->Next(), HealthCheckResponse::NOT_SERVING);
  End(a2.get());
  End(a4.get());
  End(b1.get());
  EXPECT_TRUE(WaitForWatchers(0));
}

}  // namespace
}  // namespace stylizer
