// Tests of Server and the Stylizer reactors without LibTorch: a model that
// copies its input lets every test check pixels end to end (output_index
// mapping, per-stream order under concurrency, format conversion), over a
// real loopback port with the real job queue.
#include "server/service/server.h"

#include <atomic>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "grpcpp/client_context.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "server/service/image_codec.h"
#include "server/service/testing/copy_model.h"
#include "stylizer/v1/stylizer.grpc.pb.h"

namespace stylizer {
namespace {

RgbFrame Frame(int w, int h, int seed) {
  RgbFrame f;
  f.width = w;
  f.height = h;
  f.pixels.resize(static_cast<size_t>(w) * h * 3);
  for (size_t i = 0; i < f.pixels.size(); ++i) {
    f.pixels[i] = static_cast<uint8_t>(i * 13 + seed * 101);
  }
  return f;
}

v1::Image Raw(const RgbFrame& f) {
  v1::Image image;
  EXPECT_TRUE(EncodeImage(f, v1::IMAGE_FORMAT_RAW, &image).ok());
  return image;
}

class ServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Server::Options o;
    o.host = "127.0.0.1";
    o.port = 0;
    o.load_model = []() -> absl::StatusOr<std::unique_ptr<StyleModel>> {
      return std::unique_ptr<StyleModel>(new testing::CopyModel(4));
    };
    o.queue.max_batch_size = 4;
    o.queue.batch_timeout = absl::Milliseconds(1);
    o.queue.max_frames_in_flight_per_job = 3;
    o.work_threads = 2;
    Configure(&o);
    absl::StatusOr<std::unique_ptr<Server>> server = Server::BuildAndStart(o);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    ASSERT_TRUE(server_->WaitUntilReady().ok());
    stub_ = v1::Stylizer::NewStub(
        grpc::CreateChannel(absl::StrCat("127.0.0.1:", server_->port()),
                            grpc::InsecureChannelCredentials()));
  }
  void TearDown() override {
    if (server_ != nullptr) server_->Drain(absl::Seconds(10));
  }
  // Changes to the fixture's options, for derived fixtures.
  virtual void Configure(Server::Options* options) {}

  std::unique_ptr<Server> server_;
  std::unique_ptr<v1::Stylizer::Stub> stub_;
};

TEST_F(ServerTest, ImageOutputsCarryTheirPixelsAndIndices) {
  const RgbFrame frame = Frame(31, 17, 1);
  v1::StylizeImageRequest request;
  *request.mutable_image() = Raw(frame);
  request.add_styles()->set_index(3);
  request.add_styles()->set_index(0);
  request.set_output_format(v1::IMAGE_FORMAT_PNG);
  grpc::ClientContext context;
  v1::StylizeImageResponse response;
  ASSERT_TRUE(stub_->StylizeImage(&context, request, &response).ok());
  ASSERT_EQ(response.images_size(), 2);
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(response.images(i).output_index(), static_cast<uint32_t>(i));
    absl::StatusOr<RgbFrame> out =
        DecodeImage(response.images(i).image(), 1 << 20);
    ASSERT_TRUE(out.ok()) << out.status();
    EXPECT_EQ(out->pixels, frame.pixels);  // PNG is lossless
  }
}

TEST_F(ServerTest, ConcurrentStreamsGetTheirOwnFramesInOrder) {
  constexpr int kStreams = 6;
  constexpr int kFrames = 25;
  std::atomic<int> mismatches{0};
  std::vector<std::thread> clients;
  for (int s = 0; s < kStreams; ++s) {
    clients.emplace_back([&, s] {
      grpc::ClientContext context;
      auto stream = stub_->StylizeFrames(&context);
      std::thread writer([&] {
        for (int i = 0; i < kFrames; ++i) {
          v1::StylizeFramesRequest request;
          request.set_sequence(i);
          *request.mutable_image() = Raw(Frame(16 + s % 3, 9, s * 100 + i));
          request.add_styles()->set_index(i % 4);
          if (!stream->Write(request)) break;
        }
        stream->WritesDone();
      });
      v1::StylizeFramesResponse response;
      int n = 0;
      while (stream->Read(&response)) {
        const RgbFrame expected = Frame(16 + s % 3, 9, s * 100 + n);
        if (response.sequence() != static_cast<uint64_t>(n) ||
            response.images_size() != 1 ||
            response.images(0).image().raw().rgb() !=
                std::string(expected.pixels.begin(), expected.pixels.end())) {
          ++mismatches;
        }
        ++n;
      }
      writer.join();
      if (!stream->Finish().ok() || n != kFrames) ++mismatches;
    });
  }
  for (std::thread& t : clients) t.join();
  EXPECT_EQ(mismatches.load(), 0);
}

TEST_F(ServerTest, DrainWithoutTimeoutEndsOpenStreams) {
  grpc::ClientContext context;
  auto stream = stub_->StylizeFrames(&context);
  v1::StylizeFramesRequest request;
  *request.mutable_image() = Raw(Frame(8, 8, 0));
  ASSERT_TRUE(stream->Write(request));
  v1::StylizeFramesResponse response;
  ASSERT_TRUE(stream->Read(&response));
  server_->Drain(absl::ZeroDuration());  // the client never half-closes
  while (stream->Read(&response)) {
  }
  const grpc::Status status = stream->Finish();
  EXPECT_FALSE(status.ok());
}

// Polls `condition` (wide margin; no timing is asserted).
bool Eventually(const std::function<bool()>& condition) {
  const absl::Time end = absl::Now() + absl::Seconds(30);
  while (!condition()) {
    if (absl::Now() > end) return false;
    absl::SleepFor(absl::Milliseconds(5));
  }
  return true;
}

class MemoryBudgetServerTest : public ServerTest {
 protected:
  void Configure(Server::Options* o) override {
    o->memory_budget_bytes = 2000000;
    o->max_receive_message_bytes = 300000;
    o->grpc_memory_quota_bytes = 600000;
  }
};

TEST_F(MemoryBudgetServerTest, GrpcShareAndQueueCapComeFromTheBudget) {
  EXPECT_EQ(server_->options().grpc_memory_quota_bytes, 600000);
  EXPECT_EQ(server_->options().queue.max_queued_bytes, 1400000);
  // Held for good: gRPC's share.
  EXPECT_EQ(server_->memory_budget()->reserved(), 600000);
}

TEST(ServerMemoryBudgetTest, DefaultGrpcShareIsAQuarterAndMustFit) {
  Server::Options o;
  o.host = "127.0.0.1";
  o.port = 0;
  o.load_model = []() -> absl::StatusOr<std::unique_ptr<StyleModel>> {
    return std::unique_ptr<StyleModel>(new testing::CopyModel(4));
  };
  o.memory_budget_bytes = 1000000;
  o.max_receive_message_bytes = 100000;
  absl::StatusOr<std::unique_ptr<Server>> server = Server::BuildAndStart(o);
  ASSERT_TRUE(server.ok()) << server.status();
  EXPECT_EQ((*server)->options().grpc_memory_quota_bytes, 250000);
  EXPECT_EQ((*server)->options().queue.max_queued_bytes, 750000);
  (*server)->Drain(absl::ZeroDuration());

  // At least two of the largest requests.
  o.max_receive_message_bytes = 400000;
  server = Server::BuildAndStart(o);
  ASSERT_TRUE(server.ok()) << server.status();
  EXPECT_EQ((*server)->options().grpc_memory_quota_bytes, 800000);
  EXPECT_EQ((*server)->options().queue.max_queued_bytes, 200000);
  (*server)->Drain(absl::ZeroDuration());
  o.grpc_memory_quota_bytes = 700000;
  EXPECT_EQ(Server::BuildAndStart(o).status().code(),
            absl::StatusCode::kInvalidArgument);

  o.max_receive_message_bytes = 100000;
  o.grpc_memory_quota_bytes = 1000000;
  EXPECT_EQ(Server::BuildAndStart(o).status().code(),
            absl::StatusCode::kInvalidArgument);
  o.memory_budget_bytes = 0;  // no budget: no default quota either
  o.grpc_memory_quota_bytes = 0;
  server = Server::BuildAndStart(o);
  ASSERT_TRUE(server.ok()) << server.status();
  EXPECT_EQ((*server)->options().grpc_memory_quota_bytes, -1);
  EXPECT_EQ((*server)->memory_budget(), nullptr);
}

// Frames hold their input and outputs in the budget until answered; a frame
// that cannot fit ends the stream with RESOURCE_EXHAUSTED; everything is
// given back when streams end.
TEST_F(MemoryBudgetServerTest, FrameStreamsReserveAndGiveBack) {
  {
    grpc::ClientContext context;
    auto stream = stub_->StylizeFrames(&context);
    for (int i = 0; i < 10; ++i) {  // 32x24, 4 styles: 11520 bytes each
      v1::StylizeFramesRequest request;
      request.set_sequence(i);
      *request.mutable_image() = Raw(Frame(32, 24, i));
      ASSERT_TRUE(stream->Write(request));
    }
    stream->WritesDone();
    v1::StylizeFramesResponse response;
    int n = 0;
    while (stream->Read(&response)) ++n;
    EXPECT_TRUE(stream->Finish().ok());
    EXPECT_EQ(n, 10);
  }
  {  // 250x250 with 8 styles: 1687500 bytes, more than the 1400000 left.
    grpc::ClientContext context;
    auto stream = stub_->StylizeFrames(&context);
    v1::StylizeFramesRequest request;
    *request.mutable_image() = Raw(Frame(250, 250, 0));
    for (int i = 0; i < 8; ++i) request.add_styles()->set_index(i % 4);
    stream->Write(request);
    stream->WritesDone();
    v1::StylizeFramesResponse response;
    while (stream->Read(&response)) {
    }
    const grpc::Status status = stream->Finish();
    EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
    EXPECT_THAT(status.error_message(),
                ::testing::HasSubstr("250x250 frame with 8 styles"));
    EXPECT_THAT(status.error_message(), ::testing::HasSubstr("retry"));
  }
  EXPECT_TRUE(Eventually([&] {
    return server_->memory_budget()->reserved() == 600000;
  })) << server_->memory_budget()->reserved();
}

class IdleTimeoutServerTest : public ServerTest {
 protected:
  void Configure(Server::Options* o) override {
    // So short that the timer races every other event of a stream.
    o->limits.stream_idle_timeout = absl::Milliseconds(1);
  }
};

// Whatever the order of the idle timer, client cancellation, half-close,
// reads and OnDone, every stream ends and gives back its slot and call.
TEST_F(IdleTimeoutServerTest, EveryStreamEndsWhateverComesFirst) {
  constexpr int kStreams = 24;
  std::vector<std::thread> clients;
  std::atomic<int> ok_or_expected{0};
  for (int s = 0; s < kStreams; ++s) {
    clients.emplace_back([&, s] {
      grpc::ClientContext context;
      auto stream = stub_->StylizeFrames(&context);
      for (int i = 0; i < s % 4; ++i) {
        v1::StylizeFramesRequest request;
        *request.mutable_image() = Raw(Frame(8, 8, i));
        if (!stream->Write(request)) break;
      }
      if (s % 3 == 0) context.TryCancel();
      if (s % 3 == 1) stream->WritesDone();
      v1::StylizeFramesResponse response;
      while (stream->Read(&response)) {
      }
      const grpc::StatusCode code = stream->Finish().error_code();
      if (code == grpc::StatusCode::OK ||
          code == grpc::StatusCode::DEADLINE_EXCEEDED ||
          code == grpc::StatusCode::CANCELLED) {
        ++ok_or_expected;
      }
    });
  }
  for (std::thread& t : clients) t.join();
  EXPECT_EQ(ok_or_expected.load(), kStreams);
  EXPECT_TRUE(Eventually([&] {
    return server_->context()->active_calls() == 0 &&
           server_->context()->active_streams() == 0;
  }));
}

}  // namespace
}  // namespace stylizer
