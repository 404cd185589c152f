// Tests of Server and the Stylizer reactors without LibTorch: a model that
// copies its input lets every test check pixels end to end (output_index
// mapping, per-stream order under concurrency, format conversion), over a
// real loopback port with the real job queue.
#include "server/service/server.h"

#include <malloc.h>

#include <atomic>
#include <filesystem>
#include <string>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "grpcpp/client_context.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "server/metrics/metrics.h"
#include "server/service/image_codec.h"
#include "server/service/retry_info.h"
#include "server/service/status_util.h"
#include "server/service/testing/copy_model.h"
#include "server/service/testing/eventually.h"
#include "server/service/testing/loopback_server.h"
#include "server/service/testing/raw_stream.h"
#include "server/service/work_pool.h"
#include "stylizer/v1/stylizer.grpc.pb.h"

namespace stylizer {
namespace {

using ::stylizer::testing::Eventually;

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
    Server::Options o = testing::LoopbackServerOptions();
    o.queue.max_frames_in_flight_per_job = 3;
    Configure(&o);
    absl::StatusOr<std::unique_ptr<Server>> server =
        testing::StartReadyServer(o);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    stub_ = testing::LoopbackStub(*server_);
  }
  void TearDown() override {
    if (server_ != nullptr) server_->Drain(absl::Seconds(10));
  }
  // Changes to the fixture's options, for derived fixtures.
  virtual void Configure(Server::Options* options) {}

  // Opens a frame stream, has one frame answered, drains the server with no
  // time left while the client never half-closes, and returns the stream's
  // status.
  grpc::Status DrainWithAStreamOpen() {
    grpc::ClientContext context;
    auto stream = stub_->StylizeFrames(&context);
    v1::StylizeFramesRequest request;
    *request.mutable_image() = Raw(Frame(8, 8, 0));
    v1::StylizeFramesResponse response;
    if (!stream->Write(request) || !stream->Read(&response)) {
      ADD_FAILURE() << "the stream's first frame was not answered";
    }
    server_->Drain(absl::ZeroDuration());
    while (stream->Read(&response)) {
    }
    return stream->Finish();
  }

  // A request for a `width` x `height` image in style 0, answered in
  // `output_format`.
  static v1::StylizeImageRequest StyleZeroRequest(
      int width, int height, v1::ImageFormat output_format) {
    v1::StylizeImageRequest request;
    *request.mutable_image() = Raw(Frame(width, height, 1));
    request.add_styles()->set_index(0);
    request.set_output_format(output_format);
    return request;
  }

  // Calls StylizeImage with a fresh context.
  grpc::Status StylizeImage(const v1::StylizeImageRequest& request,
                            v1::StylizeImageResponse* response) {
    grpc::ClientContext context;
    return stub_->StylizeImage(&context, request, response);
  }

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

// JPEG output of a frame wider than FFmpeg's JPEG encoder allows (65500)
// failed INTERNAL ("cannot open the JPEG encoder") after the model had run,
// which the server-error alert counts: any client could page the operator.
TEST_F(ServerTest, JpegOutputWiderThanJpegAllowsIsRefusedFirst) {
  v1::StylizeImageRequest request;
  *request.mutable_image() = Raw(Frame(65504, 32, 1));
  request.add_styles()->set_index(0);
  request.set_output_format(v1::IMAGE_FORMAT_JPEG);
  grpc::ClientContext context;
  v1::StylizeImageResponse response;
  grpc::Status status = stub_->StylizeImage(&context, request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), ::testing::HasSubstr("ask for PNG"));

  grpc::ClientContext stream_context;
  auto stream = stub_->StylizeFrames(&stream_context);
  v1::StylizeFramesRequest frame;
  frame.set_sequence(3);
  *frame.mutable_image() = request.image();
  frame.add_styles()->set_index(0);
  frame.set_output_format(v1::IMAGE_FORMAT_JPEG);
  stream->Write(frame);
  stream->WritesDone();
  v1::StylizeFramesResponse answer;
  EXPECT_FALSE(stream->Read(&answer));
  status = stream->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(),
              ::testing::StartsWith("frame with sequence 3: "));
}

// A compressed request is refused before it is inflated: gRPC inflates a
// message whole before checking its size, so any caller (health and
// GetModelInfo need no token) could make 4 MB of gzip take 4 GiB.
// The threads of this process now.
int ThreadCount() {
  int n = 0;
  for (const auto& entry :
       std::filesystem::directory_iterator("/proc/self/task")) {
    (void)entry;
    ++n;
  }
  return n;
}

// gRPC's reflection service is synchronous: each open stream held a server
// thread of its own, with no limit, and reflection needs no token. 200 idle
// streams made 200 threads (2000 made 2000), enough to meet a pod's process
// limit. The server's sync threads are now capped.
TEST_F(ServerTest, ReflectionStreamsTakeBoundedThreads) {
  const int before = ThreadCount();
  auto channel =
      grpc::CreateChannel(absl::StrCat("127.0.0.1:", server_->port()),
                          grpc::InsecureChannelCredentials());
  grpc::GenericStub stub(channel);
  grpc::CompletionQueue cq;
  constexpr int kStreams = 150;
  std::vector<std::unique_ptr<grpc::ClientContext>> contexts;
  std::vector<std::unique_ptr<grpc::GenericClientAsyncReaderWriter>> calls;
  for (int i = 0; i < kStreams; ++i) {
    contexts.push_back(std::make_unique<grpc::ClientContext>());
    calls.push_back(stub.PrepareCall(
        contexts.back().get(),
        "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", &cq));
    calls.back()->StartCall(reinterpret_cast<void*>(1));
  }
  absl::SleepFor(absl::Seconds(2));  // the server takes the calls
  const int during = ThreadCount();
  // The stylizer's own (callback) methods are served meanwhile.
  {
    grpc::ClientContext context;
    v1::StylizeImageRequest request;
    *request.mutable_image() = Raw(Frame(8, 8, 0));
    v1::StylizeImageResponse response;
    const grpc::Status status =
        stub_->StylizeImage(&context, request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
  }
  for (auto& context : contexts) context->TryCancel();
  std::vector<grpc::Status> statuses(kStreams);  // written as calls finish
  for (int i = 0; i < kStreams; ++i) {
    calls[i]->Finish(&statuses[i], reinterpret_cast<void*>(2));
  }
  cq.Shutdown();
  void* tag = nullptr;
  bool ok = false;
  while (cq.Next(&tag, &ok)) {
  }
  EXPECT_LT(during - before, kStreams / 2) << before << " -> " << during;
}

TEST_F(ServerTest, CompressedRequestsAreRefused) {
  for (grpc_compression_algorithm algorithm :
       {GRPC_COMPRESS_GZIP, GRPC_COMPRESS_DEFLATE}) {
    grpc::ClientContext context;
    context.set_compression_algorithm(algorithm);
    v1::GetModelInfoRequest request;
    v1::ModelInfo info;
    const grpc::Status status = stub_->GetModelInfo(&context, request, &info);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::UNIMPLEMENTED)
        << algorithm << ": " << status.error_message();
  }
  grpc::ClientContext plain;
  v1::ModelInfo info;
  EXPECT_TRUE(stub_->GetModelInfo(&plain, {}, &info).ok());
}

// A damaged unary request fails as the caller's error, naming what it is
// not: gRPC's typed unary methods answered UNIMPLEMENTED with no message,
// which reads as a client built for another server.
TEST_F(ServerTest, ADamagedUnaryRequestIsInvalid) {
  // Field 1 (image) whose length runs past the end of the message.
  const std::string damaged("\x0a\xff\xff\xff\xff\x0f", 6);
  auto channel =
      grpc::CreateChannel(absl::StrCat("127.0.0.1:", server_->port()),
                          grpc::InsecureChannelCredentials());
  for (const auto& [method, message] :
       {std::pair<std::string, std::string>{"StylizeImage",
                                            "StylizeImageRequest"},
        {"GetModelInfo", "GetModelInfoRequest"}}) {
    SCOPED_TRACE(method);
    const testing::RawStreamResult result = testing::RawStreamCall(
        channel, "/stylizer.v1.Stylizer/" + method, {damaged});
    EXPECT_EQ(result.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
        << result.status.error_message();
    EXPECT_THAT(result.status.error_message(),
                ::testing::HasSubstr("is not a " + message));
    EXPECT_EQ(result.responses, 0);
  }
  // Served as before.
  grpc::ClientContext context;
  v1::ModelInfo info;
  EXPECT_TRUE(stub_->GetModelInfo(&context, {}, &info).ok());
  EXPECT_GT(info.styles_size(), 0);
}

// A damaged message in the middle of a frame stream fails it, naming it.
// gRPC's typed reactor took it for the client's half-close: the stream
// ended OK, and the frames after it were never read.
TEST_F(ServerTest, ADamagedMessageFailsTheFrameStream) {
  v1::StylizeFramesRequest frame;
  *frame.mutable_image() = Raw(Frame(8, 8, 0));
  frame.add_styles()->set_index(0);
  frame.set_sequence(1);
  const std::string first = frame.SerializeAsString();
  frame.set_sequence(3);
  const std::string third = frame.SerializeAsString();
  // Field 2 (image) whose length runs past the end of the message.
  const std::string damaged("\x12\xff\xff\xff\xff\x0f", 6);
  const testing::RawStreamResult result = testing::RawStreamCall(
      grpc::CreateChannel(absl::StrCat("127.0.0.1:", server_->port()),
                          grpc::InsecureChannelCredentials()),
      "/stylizer.v1.Stylizer/StylizeFrames", {first, damaged, third});
  EXPECT_EQ(result.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
      << result.status.error_message();
  EXPECT_THAT(result.status.error_message(),
              ::testing::HasSubstr("message 2 of the stream is not a "
                                   "StylizeFramesRequest"));
  EXPECT_LE(result.responses, 1);
}

class SmallFrameServerTest : public ServerTest {
 protected:
  void Configure(Server::Options* o) override {
    o->limits.max_frame_pixels = 64 * 64;
  }
};

// The size of the PNG `image`, decoded.
std::pair<int, int> DecodedPngSize(const v1::Image& image) {
  absl::StatusOr<RgbFrame> out = DecodeImage(image, 1 << 24);
  EXPECT_TRUE(out.ok()) << out.status();
  return out.ok() ? std::make_pair(out->width, out->height)
                  : std::make_pair(0, 0);
}

// An image over the frame limit (a phone's 12-megapixel photo against the
// default 4K) was refused with "downscale it first", and neither the API
// nor the CLI could: max_side has the server scale it, and the refusal
// names the max_side that fits.
TEST_F(SmallFrameServerTest, ImagesOverTheLimitAreScaledWithMaxSide) {
  v1::StylizeImageRequest request =
      StyleZeroRequest(200, 100, v1::IMAGE_FORMAT_PNG);
  {
    v1::StylizeImageResponse response;
    const grpc::Status status = StylizeImage(request, &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    // 90x45 is 4050 pixels; 91x46 would be 4186.
    EXPECT_THAT(status.error_message(),
                ::testing::HasSubstr("set max_side to 90 or less"));
  }
  for (const auto& [max_side, width, height] :
       {std::tuple{90, 90, 45}, std::tuple{64, 64, 32}, std::tuple{3, 3, 2}}) {
    SCOPED_TRACE(max_side);
    request.set_max_side(max_side);
    v1::StylizeImageResponse response;
    const grpc::Status status = StylizeImage(request, &response);
    ASSERT_TRUE(status.ok()) << status.error_message();
    ASSERT_EQ(response.images_size(), 1);
    EXPECT_EQ(DecodedPngSize(response.images(0).image()),
              std::make_pair(width, height));
  }
  request.set_max_side(91);
  v1::StylizeImageResponse response;
  const grpc::Status status = StylizeImage(request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(),
              ::testing::HasSubstr("91x46 with max_side 91"));
}

// max_side may not make a picture thinner than every RPC accepts.
TEST_F(ServerTest, MaxSideKeepsTheShapeRule) {
  v1::StylizeImageRequest request =
      StyleZeroRequest(8000, 100, v1::IMAGE_FORMAT_RAW);
  request.set_max_side(2000);
  v1::StylizeImageResponse response;
  grpc::Status status = StylizeImage(request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(),
              ::testing::HasSubstr("with max_side 2000 the image becomes "
                                   "2000x25"));
  request.set_max_side(4000);
  status = StylizeImage(request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_EQ(response.images_size(), 1);
  EXPECT_EQ(response.images(0).image().raw().width(), 4000u);
  EXPECT_EQ(response.images(0).image().raw().height(), 50u);
}

// A strip that max_side scales to a small frame is served; it was refused
// as thin, from its size as sent.
TEST_F(ServerTest, MaxSideMayMakeAStripSmall) {
  v1::StylizeImageRequest request =
      StyleZeroRequest(5000, 20, v1::IMAGE_FORMAT_RAW);
  request.set_max_side(200);
  v1::StylizeImageResponse response;
  const grpc::Status status = StylizeImage(request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_EQ(response.images_size(), 1);
  EXPECT_EQ(response.images(0).image().raw().width(), 200u);
  EXPECT_EQ(response.images(0).image().raw().height(), 1u);
}

// A picture too thin to stylize is told the max_side that makes it a small
// frame: a larger max_side, which it was told, only made it wider.
TEST_F(ServerTest, AThinImageIsToldTheMaxSideThatSavesIt) {
  v1::StylizeImageRequest request =
      StyleZeroRequest(2000, 20, v1::IMAGE_FORMAT_RAW);
  for (const uint32_t max_side : {0u, 1000u}) {
    SCOPED_TRACE(max_side);
    request.set_max_side(max_side);
    v1::StylizeImageResponse response;
    const grpc::Status status = StylizeImage(request, &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_THAT(status.error_message(),
                ::testing::HasSubstr("too thin to stylize"));
    // 649x6 is 3894 pixels; 650x7 would be 4550.
    EXPECT_THAT(status.error_message(),
                ::testing::HasSubstr("(or set max_side to 649 or less"));
    EXPECT_THAT(status.error_message(),
                ::testing::Not(::testing::HasSubstr("a larger max_side")));
  }
  request.set_max_side(649);
  v1::StylizeImageResponse response;
  EXPECT_TRUE(StylizeImage(request, &response).ok());
}

class TinyFrameServerTest : public ServerTest {
 protected:
  void Configure(Server::Options* o) override {
    o->limits.max_frame_pixels = 10000;
  }
};

// The max_side a refusal names must work: for a thin image the largest that
// fits the pixel limit (707: 707x14) is too thin, and a smaller one (452:
// 452x9, a small frame) is not.
TEST_F(TinyFrameServerTest, TheMaxSideNamedKeepsTheShapeRule) {
  v1::StylizeImageRequest request =
      StyleZeroRequest(1000, 20, v1::IMAGE_FORMAT_RAW);
  {
    v1::StylizeImageResponse response;
    const grpc::Status status = StylizeImage(request, &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_THAT(status.error_message(),
                ::testing::HasSubstr("set max_side to 455 or less"));
  }
  request.set_max_side(455);
  v1::StylizeImageResponse response;
  const grpc::Status status = StylizeImage(request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.images(0).image().raw().width(), 455u);
}

class SmallMessageServerTest : public ServerTest {
 protected:
  void Configure(Server::Options* o) override {
    o->max_send_message_bytes = 64 << 10;
  }
};

// Outputs that cannot fit in one message were computed and encoded, logged
// OK, and then refused by gRPC (RESOURCE_EXHAUSTED at the client).
TEST_F(SmallMessageServerTest, OutputsOverTheMessageLimitAreRefusedFirst) {
  v1::StylizeImageRequest request;
  *request.mutable_image() = Raw(Frame(128, 96, 1));  // 36864 bytes a style
  request.set_output_format(v1::IMAGE_FORMAT_PNG);    // every style: 4
  grpc::ClientContext context;
  v1::StylizeImageResponse response;
  const grpc::Status status = stub_->StylizeImage(&context, request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(),
              ::testing::HasSubstr("--max_send_message_bytes, 65536"));
  // One style fits.
  request.add_styles()->set_index(2);
  grpc::ClientContext one_context;
  EXPECT_TRUE(stub_->StylizeImage(&one_context, request, &response).ok());
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
  EXPECT_FALSE(DrainWithAStreamOpen().ok());
}

// A CopyModel whose Stylize waits at a gate, counting the calls that began.
class GatedModel : public testing::CopyModel {
 public:
  absl::Status Stylize(const FrameBatch& batch) override {
    ++started_;
    gate_->WaitForNotification();
    return testing::CopyModel::Stylize(batch);
  }
  std::atomic<int> started_{0};
  absl::Notification* gate_ = nullptr;
};

// Issue 12: one queue worker per device. With two instances (two GPUs), a
// second batch runs on the second instance while the first is busy.
class TwoDeviceServerTest : public ServerTest {
 protected:
  void Configure(Server::Options* o) override {
    o->load_model = nullptr;
    o->load_models = [this]()
        -> absl::StatusOr<std::vector<std::unique_ptr<StyleModel>>> {
      std::vector<std::unique_ptr<StyleModel>> models;
      for (GatedModel** m : {&a_, &b_}) {
        auto model = std::make_unique<GatedModel>();
        model->gate_ = &gate_;
        *m = model.get();
        models.push_back(std::move(model));
      }
      return models;
    };
    o->queue.max_batch_size = 1;
    o->warmup = false;
  }
  void TearDown() override {
    if (!gate_.HasBeenNotified()) gate_.Notify();
    ServerTest::TearDown();
  }
  absl::Notification gate_;
  GatedModel* a_ = nullptr;
  GatedModel* b_ = nullptr;
};

TEST_F(TwoDeviceServerTest, BatchesRunOnEveryInstanceAtOnce) {
  std::vector<std::thread> callers;
  std::atomic<int> ok{0};
  for (int i = 0; i < 2; ++i) {
    callers.emplace_back([&, i] {
      grpc::ClientContext context;
      v1::StylizeImageRequest request;
      *request.mutable_image() = Raw(Frame(8, 8, i));
      request.add_styles()->set_index(0);
      v1::StylizeImageResponse response;
      if (stub_->StylizeImage(&context, request, &response).ok()) ++ok;
    });
  }
  // Both instances are inside Stylize at once: one batch each.
  EXPECT_TRUE(Eventually(
      [&] { return a_->started_.load() == 1 && b_->started_.load() == 1; }))
      << "instance calls: " << a_->started_.load() << ", "
      << b_->started_.load();
  gate_.Notify();
  for (std::thread& t : callers) t.join();
  EXPECT_EQ(ok.load(), 2);
}

TEST(ServerInstancesTest, InstancesWithDifferentStylesFailTheLoad) {
  Server::Options o;
  o.host = "127.0.0.1";
  o.port = 0;
  o.load_models =
      []() -> absl::StatusOr<std::vector<std::unique_ptr<StyleModel>>> {
    std::vector<std::unique_ptr<StyleModel>> models;
    models.push_back(std::make_unique<testing::CopyModel>(4));
    models.push_back(std::make_unique<testing::CopyModel>(3));
    return models;
  };
  absl::StatusOr<std::unique_ptr<Server>> server = Server::BuildAndStart(o);
  ASSERT_TRUE(server.ok()) << server.status();
  const absl::Status ready = (*server)->WaitUntilReady();
  EXPECT_FALSE(ready.ok());
  EXPECT_THAT(ready.message(), ::testing::HasSubstr("differ in their styles"));
  (*server)->Drain(absl::ZeroDuration());
}

// --max_batch_pixels: automatic is a cap on the CPU only; -1 none; a number
// that many.
TEST(BatchPixelCapTest, AutomaticCapsTheCpuOnly) {
  EXPECT_EQ(BatchPixelCap(0, "cpu"), kCpuMaxBatchPixels);
  EXPECT_EQ(BatchPixelCap(0, "cuda:0"), 0);
  EXPECT_EQ(BatchPixelCap(-1, "cpu"), 0);
  EXPECT_EQ(BatchPixelCap(500000, "cpu"), 500000);
  EXPECT_EQ(BatchPixelCap(500000, "cuda:1"), 500000);
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
  {  // 250x250 with 8 styles: 1687500 bytes, more than the 1400000 left,
     // and 1500000 bytes of the queue, more than a job's half of it.
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
    // It can never be admitted: the caller's error, said from the header
    // before anything is reserved (it used to say "retry in a few
    // seconds", then "send less" as RESOURCE_EXHAUSTED).
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_THAT(status.error_message(),
                ::testing::HasSubstr("frame of 250x250 with 8 styles"));
    EXPECT_THAT(status.error_message(), ::testing::HasSubstr("half the queue"));
    EXPECT_FALSE(RetryDelay(FromGrpcStatus(status)).has_value());
  }
  EXPECT_TRUE(Eventually([&] {
    return server_->memory_budget()->reserved() == 600000;
  })) << server_->memory_budget()->reserved();
}

// A CopyModel whose batches wait while it is held.
class GatedCopyModel : public testing::CopyModel {
 public:
  GatedCopyModel() : CopyModel(4) {}
  absl::Status Stylize(const FrameBatch& batch) override {
    absl::MutexLock lock(&mu_);
    ++waiting_;
    mu_.Await(absl::Condition(
        +[](bool* held) { return !*held; }, &held_));
    --waiting_;
    return CopyModel::Stylize(batch);
  }
  void Hold(bool held) {
    absl::MutexLock lock(&mu_);
    held_ = held;
  }
  bool Waiting() {
    absl::MutexLock lock(&mu_);
    return waiting_ > 0;
  }

 private:
  absl::Mutex mu_;
  bool held_ ABSL_GUARDED_BY(mu_) = false;
  int waiting_ ABSL_GUARDED_BY(mu_) = 0;
};

// The servers' metrics, shared by the tests of this process (they must
// outlive every server).
Metrics* TestMetrics() {
  static Metrics* metrics = [] {
    Metrics::Options options;
    options.port = -1;
    return Metrics::Create(options).value().release();
  }();
  return metrics;
}

// The grpc-retry-pushback-ms trailer of a finished call ("" if none).
std::string PushbackTrailer(const grpc::ClientContext& context) {
  const auto& trailers = context.GetServerTrailingMetadata();
  const auto pushback = trailers.find("grpc-retry-pushback-ms");
  if (pushback == trailers.end()) return "";
  return std::string(pushback->second.data(), pushback->second.size());
}

class ImageMemoryBudgetTest : public MemoryBudgetServerTest {
 protected:
  void Configure(Server::Options* o) override {
    MemoryBudgetServerTest::Configure(o);
    o->metrics = TestMetrics();
    o->load_model = [this]() -> absl::StatusOr<std::unique_ptr<StyleModel>> {
      auto model = std::make_unique<GatedCopyModel>();
      model_ = model.get();
      return std::unique_ptr<StyleModel>(std::move(model));
    };
  }
  int64_t Reserved() const { return server_->memory_budget()->reserved(); }

  // Holds the model and starts a `side` x `side` image in 2 styles (for 100:
  // 30000 * (1 + 2 * 2) = 150000 bytes, and its request's), which waits in
  // the model until ReleaseTheImage.
  void HoldAnImage(int side = 100) {
    model_->Hold(true);
    *held_request_.mutable_image() = Raw(Frame(side, side, 1));
    held_request_.add_styles()->set_index(1);
    held_request_.add_styles()->set_index(2);
    held_call_ = std::thread([this] {
      grpc::ClientContext context;
      v1::StylizeImageResponse response;
      held_status_ = stub_->StylizeImage(&context, held_request_, &response);
    });
    ASSERT_TRUE(Eventually([&] { return model_->Waiting(); }));
  }
  // Lets the model go: the held image is answered.
  void ReleaseTheImage() {
    model_->Hold(false);
    held_call_.join();
    EXPECT_TRUE(held_status_.ok()) << held_status_.error_message();
  }
  void TearDown() override {
    if (held_call_.joinable()) ReleaseTheImage();
    MemoryBudgetServerTest::TearDown();
  }

  // Sends `request` as the only frame of a stream and returns its status.
  grpc::Status OneFrameStream(const v1::StylizeFramesRequest& request,
                              grpc::ClientContext* context) {
    auto stream = stub_->StylizeFrames(context);
    EXPECT_TRUE(stream->Write(request));
    stream->WritesDone();
    v1::StylizeFramesResponse response;
    while (stream->Read(&response)) {
    }
    return stream->Finish();
  }

  // Lets the model go, half-closes `stream`, and expects frames 1 and 2
  // answered in order and the memory they held given back.
  void ExpectFramesOneAndTwoAnsweredOnRelease(
      grpc::ClientReaderWriter<v1::StylizeFramesRequest,
                               v1::StylizeFramesResponse>& stream) {
    model_->Hold(false);
    stream.WritesDone();
    v1::StylizeFramesResponse response;
    std::vector<uint64_t> answered;
    while (stream.Read(&response)) answered.push_back(response.sequence());
    const grpc::Status status = stream.Finish();
    EXPECT_TRUE(status.ok()) << status.error_message();
    EXPECT_EQ(answered, (std::vector<uint64_t>{1, 2}));
    EXPECT_TRUE(Eventually([&] { return Reserved() == 600000; })) << Reserved();
  }

  GatedCopyModel* model_ = nullptr;  // owned by the server
  v1::StylizeImageRequest held_request_;
  grpc::Status held_status_;
  std::thread held_call_;
};

// The value of one sample of the shared metrics ("name{labels}"), 0 if
// absent.
double MetricValue(const std::string& sample) {
  const std::string scraped = TestMetrics()->Scrape();
  const size_t at = scraped.find("\n" + sample + " ");
  if (at == std::string::npos) return 0;
  return std::stod(scraped.substr(at + sample.size() + 2));
}

// A stream's bytes reach the counters as they flow: they used to be added
// when the call ended, so an hour-long stream showed none until then.
TEST_F(ImageMemoryBudgetTest, AStreamsBytesAreCountedWhileItRuns) {
  const std::string in =
      "stylizer_received_bytes_total{method=\"StylizeFrames\"}";
  const std::string out = "stylizer_sent_bytes_total{method=\"StylizeFrames\"}";
  const double in0 = MetricValue(in);
  const double out0 = MetricValue(out);
  grpc::ClientContext context;
  auto stream = stub_->StylizeFrames(&context);
  v1::StylizeFramesRequest request;
  *request.mutable_image() = Raw(Frame(16, 16, 1));
  request.add_styles()->set_index(0);
  ASSERT_TRUE(stream->Write(request));
  v1::StylizeFramesResponse response;
  ASSERT_TRUE(stream->Read(&response));
  ASSERT_EQ(response.images_size(), 1);
  const double sent = response.images(0).image().raw().rgb().size();
  EXPECT_EQ(sent, 16 * 16 * 3);
  // The stream is still open.
  EXPECT_EQ(MetricValue(in) - in0, 16 * 16 * 3);
  EXPECT_TRUE(Eventually([&] { return MetricValue(out) - out0 == sent; }))
      << MetricValue(out) - out0;
  stream->WritesDone();
  while (stream->Read(&response)) {
  }
  ASSERT_TRUE(stream->Finish().ok());
  // Nothing counted twice at the end.
  EXPECT_EQ(MetricValue(in) - in0, 16 * 16 * 3);
  EXPECT_EQ(MetricValue(out) - out0, sent);
}

// A 16x16 JPEG in a message of about 260 KB: four COM segments (FF FE,
// 16-bit length) of 65000 bytes after its start marker.
v1::Image JpegWithComments(int seed) {
  v1::Image image;
  EXPECT_TRUE(
      EncodeImage(Frame(16, 16, seed), v1::IMAGE_FORMAT_JPEG, &image).ok());
  std::string comments;
  for (int i = 0; i < 4; ++i) {
    comments += "\xff\xfe\xfd\xe8";  // length 65000, itself included
    comments.append(65000 - 2, 'c');
  }
  image.mutable_encoded()->insert(2, comments);
  return image;
}

// A frame holds, like a still image, its decoded input and per style its
// output and that output's encoded copy, which live together while it is
// encoded: it reserved one copy per style.
TEST_F(ImageMemoryBudgetTest, AFrameReservesItsOutputsAndTheirEncodedCopies) {
  EXPECT_EQ(Reserved(), 600000);
  model_->Hold(true);
  grpc::ClientContext context;
  auto stream = stub_->StylizeFrames(&context);
  v1::StylizeFramesRequest request;
  *request.mutable_image() = Raw(Frame(100, 100, 1));
  request.add_styles()->set_index(1);
  request.add_styles()->set_index(2);
  request.set_output_format(v1::IMAGE_FORMAT_PNG);
  ASSERT_TRUE(stream->Write(request));
  ASSERT_TRUE(Eventually([&] { return model_->Waiting(); }));
  // 100x100 with 2 styles: 30000 * (1 + 2 * 2) bytes; the message's own
  // reservation is given back once it is decoded.
  EXPECT_TRUE(Eventually([&] { return Reserved() == 600000 + 150000; }))
      << Reserved();
  model_->Hold(false);
  v1::StylizeFramesResponse response;
  ASSERT_TRUE(stream->Read(&response));
  EXPECT_EQ(response.images_size(), 2);
  stream->WritesDone();
  while (stream->Read(&response)) {
  }
  EXPECT_TRUE(stream->Finish().ok());
  EXPECT_TRUE(Eventually([&] { return Reserved() == 600000; })) << Reserved();
}

// A still image holds its decoded input and its outputs (raw and encoded) in
// the budget from before decoding until its response is sent; one that does
// not fit beside it is refused with RESOURCE_EXHAUSTED and a retry hint; the
// gauges follow.
TEST_F(ImageMemoryBudgetTest, StillImagesReserveUntilAnswered) {
  EXPECT_EQ(Reserved(), 600000);
  model_->Hold(true);
  // 100x100 with 2 styles: 30000 * (1 + 2 * 2) = 150000 bytes.
  v1::StylizeImageRequest held_request;
  *held_request.mutable_image() = Raw(Frame(100, 100, 1));
  held_request.add_styles()->set_index(1);
  held_request.add_styles()->set_index(2);
  held_request.set_output_format(v1::IMAGE_FORMAT_PNG);
  grpc::Status held_status;
  v1::StylizeImageResponse held_response;
  std::thread held_call([&] {
    grpc::ClientContext context;
    held_status = stub_->StylizeImage(&context, held_request, &held_response);
  });
  ASSERT_TRUE(Eventually([&] { return model_->Waiting(); }));
  // And the request itself, held by the call until it ends.
  const int64_t held_bytes =
      750000 + static_cast<int64_t>(held_request.ByteSizeLong());
  EXPECT_EQ(Reserved(), held_bytes);
  const std::string scraped = TestMetrics()->Scrape();
  EXPECT_THAT(scraped,
              ::testing::HasSubstr("stylizer_memory_budget_bytes 2000000"));
  EXPECT_THAT(scraped, ::testing::HasSubstr(absl::StrCat(
                           "stylizer_memory_reserved_bytes ", held_bytes)));
  // An image in progress is an RPC in progress (the gauge never moved for
  // StylizeImage, which takes no stream slot).
  EXPECT_THAT(scraped,
              ::testing::HasSubstr(
                  "stylizer_active_streams{method=\"StylizeImage\"} 1"));

  // 150x150 with 9 styles: 67500 * 19 = 1282500 bytes, more than the
  // 1250000 left beside the held image, though alone it fits in the 1400000
  // left beside gRPC's share. Sized from the PNG's header (its own bytes
  // are reserved first, and given back with the refusal).
  v1::StylizeImageRequest big;
  ASSERT_TRUE(
      EncodeImage(Frame(150, 150, 2), v1::IMAGE_FORMAT_PNG, big.mutable_image())
          .ok());
  for (int i = 0; i < 9; ++i) big.add_styles()->set_index(i % 4);
  big.set_output_format(v1::IMAGE_FORMAT_JPEG);  // a small response
  {
    grpc::ClientContext context;
    v1::StylizeImageResponse response;
    const grpc::Status status = stub_->StylizeImage(&context, big, &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED)
        << status.error_message();
    EXPECT_THAT(status.error_message(),
                ::testing::HasSubstr("150x150 image with 9 styles"));
    EXPECT_THAT(status.error_message(), ::testing::HasSubstr("retry"));
    EXPECT_TRUE(RetryDelay(FromGrpcStatus(status)).has_value());
    EXPECT_EQ(PushbackTrailer(context), "2000");
  }
  EXPECT_TRUE(Eventually([&] { return Reserved() == held_bytes; }))
      << Reserved();

  model_->Hold(false);
  held_call.join();
  ASSERT_TRUE(held_status.ok()) << held_status.error_message();
  ASSERT_EQ(held_response.images_size(), 2);
  EXPECT_TRUE(Eventually([&] { return Reserved() == 600000; })) << Reserved();
  EXPECT_THAT(TestMetrics()->Scrape(),
              ::testing::HasSubstr("stylizer_memory_reserved_bytes 600000"));
  EXPECT_THAT(TestMetrics()->Scrape(),
              ::testing::HasSubstr(
                  "stylizer_active_streams{method=\"StylizeImage\"} 0"));

  // Alone it fits, and is given back once answered.
  grpc::ClientContext context;
  v1::StylizeImageResponse response;
  const grpc::Status status = stub_->StylizeImage(&context, big, &response);
  EXPECT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.images_size(), 9);
  EXPECT_TRUE(Eventually([&] { return Reserved() == 600000; })) << Reserved();
}

// A progressive 4:4:4 JPEG's frame header (SOF2, three components sampled
// 1x1), with nothing to decode after it.
std::string ProgressiveJpegHeader(int width, int height) {
  std::string d = "\xff\xd8\xff\xc2";
  d += {'\0',
        '\x11',
        '\x08',
        static_cast<char>(height >> 8),
        static_cast<char>(height & 0xff),
        static_cast<char>(width >> 8),
        static_cast<char>(width & 0xff),
        '\x03'};
  for (char c = 1; c <= 3; ++c) d += {c, '\x11', '\0'};
  return d + "\xff\xd9";
}

// A progressive JPEG is charged what its decoder holds (9 bytes a sample
// with its coefficients, and an eighth), from its header: a 360x360 one
// scaled to 64 (1312200 + 36864 bytes) fits alone but not beside a held
// image, and is refused before it is decoded. At the 4 bytes a pixel every
// JPEG was charged (518400) it was let in beside it.
TEST_F(ImageMemoryBudgetTest, ProgressiveJpegsAreChargedTheirCoefficients) {
  HoldAnImage();
  v1::StylizeImageRequest request;
  request.mutable_image()->set_encoded(ProgressiveJpegHeader(360, 360));
  request.add_styles()->set_index(1);
  request.set_max_side(64);
  request.set_output_format(v1::IMAGE_FORMAT_RAW);
  {
    grpc::ClientContext context;  // let in, it would wait for the model
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(5));
    v1::StylizeImageResponse response;
    const grpc::Status status =
        stub_->StylizeImage(&context, request, &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED)
        << status.error_message();
    EXPECT_THAT(status.error_message(),
                ::testing::HasSubstr("360x360 image with 1 style"));
  }
  ReleaseTheImage();
  // Alone it is let in, once the held image's reservation is back (it is
  // given back after its answer was sent, which the client may see first).
  ASSERT_TRUE(Eventually([&] { return Reserved() == 600000; })) << Reserved();
  grpc::ClientContext context;
  v1::StylizeImageResponse response;
  const grpc::Status status = stub_->StylizeImage(&context, request, &response);
  EXPECT_NE(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED)
      << status.error_message();
  EXPECT_TRUE(Eventually([&] { return Reserved() == 600000; })) << Reserved();
}

// The request's own bytes count from the moment gRPC hands it over: small
// pictures in large messages (a JPEG carrying 260 KB of comments) were
// held, parked and queued at a few KB each, outside the budget.
TEST_F(ImageMemoryBudgetTest, ARequestsOwnBytesAreReserved) {
  model_->Hold(true);
  v1::StylizeImageRequest padded;
  *padded.mutable_image() = JpegWithComments(1);
  padded.add_styles()->set_index(1);
  const int64_t bytes = static_cast<int64_t>(padded.ByteSizeLong());
  // 1400000 left beside gRPC's share: five such requests fit, the sixth
  // does not.
  std::vector<std::thread> calls;
  std::vector<grpc::Status> statuses(5);
  for (int i = 0; i < 5; ++i) {
    calls.emplace_back([&, i] {
      grpc::ClientContext context;
      v1::StylizeImageResponse response;
      statuses[i] = stub_->StylizeImage(&context, padded, &response);
    });
    ASSERT_TRUE(Eventually([&] {
      return Reserved() >= 600000 + (i + 1) * bytes;
    })) << Reserved();
  }
  {
    grpc::ClientContext context;  // a deadline: accepted, it would wait
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(10));
    v1::StylizeImageResponse response;
    const grpc::Status status =
        stub_->StylizeImage(&context, padded, &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED)
        << status.error_message();
    EXPECT_THAT(status.error_message(),
                ::testing::HasSubstr(absl::StrCat("a request of ", bytes)));
    EXPECT_TRUE(RetryDelay(FromGrpcStatus(status)).has_value());
  }
  model_->Hold(false);
  for (std::thread& t : calls) t.join();
  for (const grpc::Status& status : statuses) {
    EXPECT_TRUE(status.ok()) << status.error_message();
  }
  EXPECT_TRUE(Eventually([&] { return Reserved() == 600000; })) << Reserved();
}

// A frame that does not fit beside the stream's own unanswered frame waits
// for that frame's answer, which gives its memory back: it was refused as
// busy, and a retry met the same frame every time.
TEST_F(ImageMemoryBudgetTest, AFrameWaitsForTheMemoryOfItsOwnStream) {
  model_->Hold(true);
  grpc::ClientContext context;
  auto stream = stub_->StylizeFrames(&context);
  // 320x320 in one style: 307200 * 3 = 921600 bytes each; one fits the
  // 1400000 left, two do not (and one is within a job's half of the queue).
  for (int sequence : {1, 2}) {
    v1::StylizeFramesRequest request;
    request.set_sequence(sequence);
    ASSERT_TRUE(EncodeImage(Frame(320, 320, sequence), v1::IMAGE_FORMAT_PNG,
                            request.mutable_image())
                    .ok());
    request.add_styles()->set_index(1);
    ASSERT_TRUE(stream->Write(request));
  }
  ASSERT_TRUE(Eventually([&] { return model_->Waiting(); }));
  // The first frame, and the second's message (its PNG) until decoded; a
  // fixed sleep before this check failed on a slow machine.
  ASSERT_TRUE(Eventually([&] { return Reserved() > 600000 + 921600; }))
      << Reserved();
  // Had the second frame been reserved beside the first, it would show by
  // now.
  absl::SleepFor(absl::Milliseconds(300));
  EXPECT_LT(Reserved(), 600000 + 921600 + 460800);
  ExpectFramesOneAndTwoAnsweredOnRelease(*stream);
}

// A frame message's own bytes are reserved when it is read. One that does
// not fit beside the stream's unanswered frame waits for that frame's
// answer, unread into the pool and undecoded, and then goes on.
TEST_F(ImageMemoryBudgetTest, AFrameMessageWaitsForMemoryForItsOwnBytes) {
  model_->Hold(true);
  grpc::ClientContext context;
  auto stream = stub_->StylizeFrames(&context);
  v1::StylizeFramesRequest first;
  first.set_sequence(1);
  first.add_styles()->set_index(1);
  first.add_styles()->set_index(2);
  // 278x278 in two styles: 231852 * 5 = 1159260 of the 1400000 left (and
  // 231852 * 2 within a job's 700000 of the queue).
  ASSERT_TRUE(EncodeImage(Frame(278, 278, 1), v1::IMAGE_FORMAT_PNG,
                          first.mutable_image())
                  .ok());
  ASSERT_TRUE(stream->Write(first));
  ASSERT_TRUE(Eventually([&] { return model_->Waiting(); }));
  // A 16x16 JPEG in a 260 KB message: more than the 240740 left.
  v1::StylizeFramesRequest second;
  second.set_sequence(2);
  *second.mutable_image() = JpegWithComments(2);
  ASSERT_TRUE(stream->Write(second));
  absl::SleepFor(absl::Milliseconds(300));  // the second message is read
  EXPECT_EQ(Reserved(), 600000 + 1159260);  // nothing of it decoded
  ExpectFramesOneAndTwoAnsweredOnRelease(*stream);
}

// A frame that no wait can ever admit (over one job's half of the queue) is
// refused from its header as the caller's error, even while the budget is
// busy: it was told to retry, reserved and decoded first, and then refused
// at submission.
TEST_F(ImageMemoryBudgetTest, AFrameOverTheJobsShareIsRefusedBeforeTheBudget) {
  ASSERT_NO_FATAL_FAILURE(HoldAnImage());

  // 380x380 in 2 styles: 433200 * 2 = 866400 bytes of the queue, more than
  // a job's 700000. Its 433200 * 5 bytes of memory are more than the budget
  // too (here a job's share of the queue is half the budget, and a frame
  // holds more than twice its queue bytes): the queue's refusal, which says
  // what to change, comes first.
  v1::StylizeFramesRequest request;
  request.set_sequence(3);
  ASSERT_TRUE(EncodeImage(Frame(380, 380, 3), v1::IMAGE_FORMAT_PNG,
                          request.mutable_image())
                  .ok());
  for (int i = 0; i < 2; ++i) request.add_styles()->set_index(i);
  grpc::ClientContext context;
  const grpc::Status status = OneFrameStream(request, &context);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
      << status.error_message();
  EXPECT_THAT(status.error_message(),
              ::testing::HasSubstr("frame with sequence 3: frame of 380x380"));
  EXPECT_THAT(status.error_message(), ::testing::HasSubstr("half the queue"));

  ReleaseTheImage();
  EXPECT_TRUE(Eventually([&] { return Reserved() == 600000; })) << Reserved();
}

// A frame that does not fit beside a held image, though alone it would, is
// refused as busy, with the retry hint of StylizeImage's refusal (it used to
// lose it to the "frame with sequence N" prefix, and say never to retry). It
// is sized from the PNG's header before anything is decoded.
TEST_F(ImageMemoryBudgetTest, FramesThatDoNotFitBesideOthersAreToldToRetry) {
  // 200x200 in 2 styles: 120000 * 5 = 600000 bytes, and its request's.
  ASSERT_NO_FATAL_FAILURE(HoldAnImage(200));
  ASSERT_EQ(Reserved(), 600000 + 600000 +
                            static_cast<int64_t>(held_request_.ByteSizeLong()));

  // 300x300 in one style: 270000 * 3 = 810000 bytes, more than the 680000
  // or so left, less than the 1400000 left beside gRPC's share alone (with
  // its PNG), and within a job's 700000 of the queue.
  v1::StylizeFramesRequest request;
  request.set_sequence(7);
  ASSERT_TRUE(EncodeImage(Frame(300, 300, 3), v1::IMAGE_FORMAT_PNG,
                          request.mutable_image())
                  .ok());
  request.add_styles()->set_index(1);
  grpc::ClientContext context;
  const grpc::Status status = OneFrameStream(request, &context);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED)
      << status.error_message();
  EXPECT_THAT(status.error_message(),
              ::testing::HasSubstr("frame with sequence 7: "));
  EXPECT_THAT(status.error_message(),
              ::testing::HasSubstr("300x300 frame with 1 style"));
  EXPECT_THAT(status.error_message(),
              ::testing::Not(::testing::HasSubstr("1 styles")));
  EXPECT_TRUE(RetryDelay(FromGrpcStatus(status)).has_value());
  EXPECT_EQ(PushbackTrailer(context), "2000");

  ReleaseTheImage();
  EXPECT_TRUE(Eventually([&] { return Reserved() == 600000; })) << Reserved();
}

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
  EXPECT_TRUE(Eventually([&] {
    return server_->context()->active_calls() == 0;
  }));
  EXPECT_EQ(Finished("StylizeImage", "DEADLINE_EXCEEDED"), image_before + 1);
  EXPECT_EQ(Finished("StylizeFrames", "DEADLINE_EXCEEDED"), frames_before + 1);
}

// A call still running when the drain's time runs out is cancelled by the
// server: it is logged and counted UNAVAILABLE, as its client sees it, not
// as a client's cancel (CANCELLED "the client cancelled the call").
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

// Heap bytes in use now, in the arena and in mmap'd blocks.
int64_t HeapBytesInUse() {
  const struct mallinfo2 info = mallinfo2();
  return static_cast<int64_t>(info.uordblks + info.hblkhd);
}

// A frame stream that goes quiet after an answer held that answer twice (the
// message and its serialized copy) and its last request, outside the memory
// budget, until the next write or the stream's end.
TEST_F(ServerTest, AQuietFrameStreamHoldsNoAnswerItWrote) {
  v1::StylizeFramesRequest request;
  *request.mutable_image() = Raw(Frame(512, 512, 1));  // 768 KiB
  for (int i = 0; i < 4; ++i) request.add_styles()->set_index(i);
  grpc::ClientContext context;
  auto stream = stub_->StylizeFrames(&context);
  ASSERT_TRUE(stream->Write(request));
  {
    v1::StylizeFramesResponse response;  // 3 MiB: the client's limit is 4
    ASSERT_TRUE(stream->Read(&response));
    ASSERT_EQ(response.images_size(), 4);
  }
  // What the quiet stream holds: the heap now, against the heap once the
  // stream has ended (the process's own caches are in both).
  absl::SleepFor(absl::Milliseconds(500));
  const int64_t quiet = HeapBytesInUse();
  stream->WritesDone();
  EXPECT_TRUE(stream->Finish().ok());
  EXPECT_TRUE(
      Eventually([&] { return server_->context()->active_calls() == 0; }));
  absl::SleepFor(absl::Milliseconds(500));
  const int64_t ended = HeapBytesInUse();
  // It held 2 x 3 MiB of answer, the request and its decoded frame.
  EXPECT_LT(quiet - ended, int64_t{1} << 20) << quiet - ended << " bytes";
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

class SmallQueueServerTest : public ServerTest {
 protected:
  void Configure(Server::Options* o) override {
    // One job may hold half of it: 32768 bytes, 10 64x64 RGB frames' worth
    // less a little, so a 64x64 frame in 4 styles (49152 bytes) never fits.
    o->queue.max_queued_bytes = 65536;
  }
};

// A frame larger than one job's share of the queue can never be taken: the
// stream ends with INVALID_ARGUMENT naming the frame, as any bad frame does.
TEST_F(SmallQueueServerTest, FrameOverTheQueueShareNamesItsSequence) {
  grpc::ClientContext context;
  auto stream = stub_->StylizeFrames(&context);
  v1::StylizeFramesRequest request;
  request.set_sequence(7);
  *request.mutable_image() = Raw(Frame(64, 64, 0));  // every style: 4
  stream->Write(request);
  stream->WritesDone();
  v1::StylizeFramesResponse response;
  EXPECT_FALSE(stream->Read(&response));
  const grpc::Status status = stream->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(),
              ::testing::StartsWith("frame with sequence 7: "));
  EXPECT_THAT(status.error_message(), ::testing::HasSubstr("32768 bytes"));
}

class SlowIdleTimeoutServerTest : public ServerTest {
 protected:
  void Configure(Server::Options* o) override {
    // Longer than the test's own steps below, so that the stream fails on
    // its bad frame before the timer could end it.
    o->limits.stream_idle_timeout = absl::Seconds(2);
  }
};

// A large answer gets the time a slow reader needs for it on top of the idle
// timeout (2 s here; TimeToSend: 48 MiB at 1 MiB/s). The first answer had it;
// the next, queued behind it, lost it to the plain timeout when the first write
// completed, and the slow reader was cut off after one answer.
TEST_F(SlowIdleTimeoutServerTest, EveryLargeAnswerGetsTheTimeToSendIt) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(-1);
  auto stub = v1::Stylizer::NewStub(
      grpc::CreateCustomChannel(absl::StrCat("127.0.0.1:", server_->port()),
                                grpc::InsecureChannelCredentials(), args));
  grpc::ClientContext context;
  auto stream = stub->StylizeFrames(&context);
  for (int sequence = 0; sequence < 2; ++sequence) {
    v1::StylizeFramesRequest request;
    request.set_sequence(sequence);
    *request.mutable_image() = Raw(Frame(2048, 2048, sequence));
    for (int i = 0; i < 4; ++i) request.add_styles()->set_index(i);
    ASSERT_TRUE(stream->Write(request));
  }
  stream->WritesDone();
  v1::StylizeFramesResponse response;
  ASSERT_TRUE(stream->Read(&response));
  // Past the idle timeout, well within it plus 48 s for the second answer.
  absl::SleepFor(absl::Seconds(3));
  ASSERT_TRUE(stream->Read(&response));
  EXPECT_EQ(response.sequence(), 1u);
  const grpc::Status status = stream->Finish();
  EXPECT_TRUE(status.ok()) << status.error_message();
}

// A stream that fails (here on a bad frame) while an answer waits on a client
// that does not read cannot Finish until that write ends: the idle timer must
// still end it, or the call holds its slot and memory for as long as the
// client keeps the connection open.
TEST_F(SlowIdleTimeoutServerTest, FailedStreamWithAStalledWriteStillEnds) {
  // A connection of its own, so that its unread answers block no one else.
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  auto stub = v1::Stylizer::NewStub(grpc::CreateCustomChannel(
      absl::StrCat("127.0.0.1:", server_->port()),
      grpc::InsecureChannelCredentials(), args));
  grpc::ClientContext context;  // no deadline: only the server can end it
  auto stream = stub->StylizeFrames(&context);
  // Three raw 1024x1024 frames in every style: 36 MB of answers, far more
  // than the stream's flow-control window, so the first write stalls.
  v1::StylizeFramesRequest request;
  *request.mutable_image() = Raw(Frame(1024, 1024, 0));
  for (int i = 0; i < 3; ++i) {
    request.set_sequence(i);
    ASSERT_TRUE(stream->Write(request));
  }
  absl::SleepFor(absl::Milliseconds(500));  // the answers reach the write
  request.set_sequence(3);
  request.add_styles()->set_index(99);  // no such style: INVALID_ARGUMENT
  stream->Write(request);
  EXPECT_TRUE(Eventually([&] {
    return server_->context()->active_streams() == 0;
  })) << "the failed stream never ended";
  context.TryCancel();  // so that the test ends either way
  v1::StylizeFramesResponse response;
  while (stream->Read(&response)) {
  }
  stream->Finish();
}

}  // namespace
}  // namespace stylizer
