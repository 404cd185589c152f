// Tests of the Server with a model held at a gate: calls whose deadlines
// pass during the work or its encoding, drains that cut calls short or wait
// for the device, answers the client never took, and images whose clients
// left before the work pool took them, each logged and counted as its
// client saw it.
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "grpcpp/client_context.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/byte_buffer.h"
#include "gtest/gtest.h"
#include "server/service/image_codec.h"
#include "server/service/server.h"
#include "server/service/testing/eventually.h"
#include "server/service/testing/server_test_fixture.h"
#include "server/service/work_pool.h"
#include "stylizer/v1/stylizer.grpc.pb.h"

namespace stylizer {
namespace {

using ::stylizer::testing::Eventually;
using ::stylizer::testing::Frame;
using ::stylizer::testing::GatedCopyModel;
using ::stylizer::testing::MetricValue;
using ::stylizer::testing::Raw;
using ::stylizer::testing::ServerTest;
using ::stylizer::testing::TestMetrics;

class GatedServerTest : public ServerTest {
 protected:
  void Configure(Server::Options* o) override {
    o->metrics = TestMetrics();
    o->load_model = [this]() -> absl::StatusOr<std::unique_ptr<StyleModel>> {
      auto model = std::make_unique<GatedCopyModel>();
      model_ = model.get();
      return std::unique_ptr<StyleModel>(std::move(model));
    };
  }
  // The count of finished `method` calls that ended with `code`.
  double Finished(const std::string& method, const std::string& code) {
    const std::string line = absl::StrCat("stylizer_requests_total{code=\"",
                                          code, "\",method=\"", method, "\"} ");
    const std::string scraped = TestMetrics()->Scrape();
    const size_t at = scraped.find(line);
    if (at == std::string::npos) return 0;
    return std::stod(scraped.substr(at + line.size()));
  }

  // A 16x16 StylizeImage call with a 2 s deadline (long enough for a loaded
  // machine to deliver it first), which ends DEADLINE_EXCEEDED while the
  // held model works on it.
  void ExpectAnImageCallPastItsDeadline() {
    v1::StylizeImageRequest request;
    *request.mutable_image() = Raw(Frame(16, 16, 0));
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(2)));
    v1::StylizeImageResponse response;
    EXPECT_EQ(stub_->StylizeImage(&context, request, &response).error_code(),
              grpc::StatusCode::DEADLINE_EXCEEDED);
  }

  GatedCopyModel* model_ = nullptr;  // owned by the server
};

// A call whose client deadline passes while its work runs ends, for the
// server's log and metrics too, as DEADLINE_EXCEEDED: the client's cancel
// arrives a moment before the server's own copy of the deadline, and used to
// be counted as a client cancelling.
TEST_F(GatedServerTest, DeadlineDuringTheWorkIsCountedAsDeadline) {
  const double image_before = Finished("StylizeImage", "DEADLINE_EXCEEDED");
  const double frames_before = Finished("StylizeFrames", "DEADLINE_EXCEEDED");
  model_->Hold(true);
  ExpectAnImageCallPastItsDeadline();
  {
    grpc::ClientContext context;
    // Long enough for a loaded machine to deliver the call first.
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(2)));
    auto stream = stub_->StylizeFrames(&context);
    v1::StylizeFramesRequest request;
    *request.mutable_image() = Raw(Frame(16, 16, 0));
    stream->Write(request);
    v1::StylizeFramesResponse response;
    EXPECT_FALSE(stream->Read(&response));
    EXPECT_EQ(stream->Finish().error_code(),
              grpc::StatusCode::DEADLINE_EXCEEDED);
  }
  model_->Hold(false);
  EXPECT_TRUE(
      Eventually([&] { return server_->context()->active_calls() == 0; }));
  EXPECT_EQ(Finished("StylizeImage", "DEADLINE_EXCEEDED"), image_before + 1);
  EXPECT_EQ(Finished("StylizeFrames", "DEADLINE_EXCEEDED"), frames_before + 1);
}

// A call still running when the drain's time runs out is cancelled by the
// server: it is logged and counted UNAVAILABLE, as its client sees it, not
// as a client's cancel (CANCELLED "the call was cancelled: ...").
TEST_F(GatedServerTest, CallsTheDrainCutShortAreUnavailable) {
  const double unavailable_before = Finished("StylizeFrames", "UNAVAILABLE");
  const double cancelled_before = Finished("StylizeFrames", "CANCELLED");
  EXPECT_EQ(DrainWithAStreamOpen().error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_TRUE(Eventually([&] {
    return Finished("StylizeFrames", "UNAVAILABLE") == unavailable_before + 1;
  })) << Finished("StylizeFrames", "UNAVAILABLE");
  EXPECT_EQ(Finished("StylizeFrames", "CANCELLED"), cancelled_before);
}

// A frame whose caller left (its deadline passed) is still on the device
// when the drain starts: the calls have all ended, so the drain says so
// (its callback disarms the process's stuck-drain watchdog) before it waits
// for that batch, which cannot be stopped. The watchdog used to cover the
// wait too, and an ordinary shutdown after a large frame on a CPU exited 1
// with drain_stuck.
TEST_F(GatedServerTest, TheDrainSaysTheCallsEndedBeforeItWaitsForTheDevice) {
  model_->Hold(true);
  ExpectAnImageCallPastItsDeadline();
  ASSERT_TRUE(Eventually([&] { return model_->Waiting(); }));
  ASSERT_TRUE(
      Eventually([&] { return server_->context()->active_calls() == 0; }));
  absl::Notification calls_ended;
  absl::Notification drained;
  std::thread drain([&] {
    server_->Drain(absl::ZeroDuration(), [&] { calls_ended.Notify(); });
    drained.Notify();
  });
  EXPECT_TRUE(calls_ended.WaitForNotificationWithTimeout(absl::Seconds(30)));
  // The batch is still on the device, and the drain waits for it.
  EXPECT_TRUE(model_->Waiting());
  EXPECT_FALSE(drained.HasBeenNotified());
  model_->Hold(false);
  drain.join();
}

// An answer the client never took was logged and counted OK, its bytes as
// sent: the rpc line was written before the answer was handed to gRPC. Here
// the client reads nothing, then cancels with the answer stuck in the
// connection, as a client that stopped reading (or its idle timer) does.
TEST_F(GatedServerTest, AnAnswerTheClientNeverTookIsNotCountedOk) {
  const std::string sent = "stylizer_sent_bytes_total{method=\"StylizeImage\"}";
  const double ok_before = Finished("StylizeImage", "OK");
  const double cancelled_before = Finished("StylizeImage", "CANCELLED");
  const double sent_before = MetricValue(sent);
  // A connection of its own, and a call that never asks for its answer:
  // 2048x2048 raw in 2 styles, 24 MiB, far more than the stream's window.
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  grpc::GenericStub stub(
      grpc::CreateCustomChannel(absl::StrCat("127.0.0.1:", server_->port()),
                                grpc::InsecureChannelCredentials(), args));
  grpc::CompletionQueue cq;
  grpc::ClientContext context;
  auto call =
      stub.PrepareCall(&context, "/stylizer.v1.Stylizer/StylizeImage", &cq);
  const auto await = [&cq](intptr_t tag) {
    void* got = nullptr;
    bool ok = false;
    return cq.Next(&got, &ok) && reinterpret_cast<intptr_t>(got) == tag && ok;
  };
  model_->Hold(true);
  call->StartCall(reinterpret_cast<void*>(1));
  ASSERT_TRUE(await(1));
  v1::StylizeImageRequest request;
  *request.mutable_image() = Raw(Frame(2048, 2048, 0));
  request.add_styles()->set_index(0);
  request.add_styles()->set_index(1);
  grpc::Slice slice(request.SerializeAsString());
  grpc::ByteBuffer buffer(&slice, 1);
  call->Write(buffer, reinterpret_cast<void*>(2));
  ASSERT_TRUE(await(2));
  call->WritesDone(reinterpret_cast<void*>(3));
  ASSERT_TRUE(await(3));
  // Every style's frames stylized so far, in the shared metrics.
  const auto stylized = [] {
    double sum = 0;
    for (absl::string_view line :
         absl::StrSplit(TestMetrics()->Scrape(), '\n')) {
      if (absl::StartsWith(line, "stylizer_frames_total{")) {
        sum += std::stod(std::string(line.substr(line.rfind(' ') + 1)));
      }
    }
    return sum;
  };
  const double stylized_before = stylized();
  ASSERT_TRUE(Eventually([&] { return model_->Waiting(); }));
  model_->Hold(false);
  // Once the model has run, the raw answer is copied out in milliseconds
  // and handed to gRPC. (Cancelled before that, the call is CANCELLED with
  // or without the fix: the test would pass without testing it.)
  ASSERT_TRUE(Eventually([&] { return stylized() >= stylized_before + 2; }));
  absl::SleepFor(absl::Milliseconds(500));
  context.TryCancel();
  grpc::Status status;
  call->Finish(&status, reinterpret_cast<void*>(4));
  EXPECT_TRUE(await(4));
  EXPECT_EQ(status.error_code(), grpc::StatusCode::CANCELLED);
  EXPECT_TRUE(Eventually([&] {
    return Finished("StylizeImage", "CANCELLED") == cancelled_before + 1;
  })) << Finished("StylizeImage", "CANCELLED");
  EXPECT_EQ(Finished("StylizeImage", "OK"), ok_before);
  EXPECT_EQ(MetricValue(sent), sent_before);
  cq.Shutdown();
  void* tag = nullptr;
  bool ok = false;
  while (cq.Next(&tag, &ok)) {
  }
}

class OneWorkThreadServerTest : public GatedServerTest {
 protected:
  void Configure(Server::Options* o) override {
    GatedServerTest::Configure(o);
    o->work_threads = 1;
  }
};

// The deadline passes after the model's work, while the answer is encoded
// (its task waits behind another on the work pool): the client gets
// DEADLINE_EXCEEDED, and the log and metrics said OK.
TEST_F(OneWorkThreadServerTest, DeadlineWhileEncodingIsCountedAsDeadline) {
  const double ok_before = Finished("StylizeImage", "OK");
  const double deadline_before = Finished("StylizeImage", "DEADLINE_EXCEEDED");
  model_->Hold(true);
  grpc::Status status;
  std::thread call([&] {
    v1::StylizeImageRequest request;
    *request.mutable_image() = Raw(Frame(16, 16, 0));
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(2)));
    v1::StylizeImageResponse response;
    status = stub_->StylizeImage(&context, request, &response);
  });
  ASSERT_TRUE(Eventually([&] { return model_->Waiting(); }));
  absl::Notification release;
  server_->context()->pool()->Post([&] { release.WaitForNotification(); });
  model_->Hold(false);  // the encoding waits behind the task above
  call.join();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  // The server's own copy of the deadline, a moment after the client's.
  absl::SleepFor(absl::Milliseconds(300));
  release.Notify();
  EXPECT_TRUE(
      Eventually([&] { return server_->context()->active_calls() == 0; }));
  EXPECT_EQ(Finished("StylizeImage", "DEADLINE_EXCEEDED"), deadline_before + 1);
  EXPECT_EQ(Finished("StylizeImage", "OK"), ok_before);
}

// Still images whose clients gave up while their calls waited for the work
// pool were decoded all the same, one after another, ahead of live calls.
// They now end as soon as the pool takes them.
TEST_F(OneWorkThreadServerTest, ImagesWhoseClientsLeftAreNotDecoded) {
  // Noise: a JPEG that takes a while to decode (about 0.1 s each).
  RgbFrame noise;
  noise.width = 4000;
  noise.height = 2000;
  noise.pixels.resize(size_t{4000} * 2000 * 3);
  uint32_t state = 1;
  for (uint8_t& p : noise.pixels) {
    state = state * 1664525u + 1013904223u;
    p = static_cast<uint8_t>(state >> 24);
  }
  v1::StylizeImageRequest request;
  ASSERT_TRUE(
      EncodeImage(noise, v1::IMAGE_FORMAT_JPEG, request.mutable_image()).ok());
  absl::Notification release;
  server_->context()->pool()->Post([&] { release.WaitForNotification(); });
  constexpr int kCalls = 20;  // 4 queued on the pool, 16 parked behind
  std::vector<std::thread> calls;
  std::atomic<int> expired{0};
  for (int i = 0; i < kCalls; ++i) {
    calls.emplace_back([&] {
      grpc::ClientContext context;
      context.set_deadline(
          absl::ToChronoTime(absl::Now() + absl::Milliseconds(500)));
      v1::StylizeImageResponse response;
      if (stub_->StylizeImage(&context, request, &response).error_code() ==
          grpc::StatusCode::DEADLINE_EXCEEDED) {
        ++expired;
      }
    });
  }
  for (std::thread& t : calls) t.join();
  EXPECT_EQ(expired.load(), kCalls);
  absl::SleepFor(absl::Milliseconds(300));  // the server's copy of deadlines
  // The pool's next free moment after the dead calls' tasks: about no time,
  // not twenty decodes of 8 megapixels (over a second). A wide margin for
  // loaded machines.
  const absl::Time released = absl::Now();
  release.Notify();
  absl::Notification marker;
  // Parked behind the parked calls, so it runs after all twenty.
  server_->context()->pool()->PostWhenRoom([&] { marker.Notify(); });
  ASSERT_TRUE(marker.WaitForNotificationWithTimeout(absl::Seconds(60)));
  EXPECT_LT(absl::Now() - released, absl::Milliseconds(300))
      << "the pool decoded images for clients that had left";
  EXPECT_TRUE(
      Eventually([&] { return server_->context()->active_calls() == 0; }));
}

}  // namespace
}  // namespace stylizer
