// Tests of Server and the Stylizer reactors without LibTorch: a model that
// copies its input lets every test check pixels end to end (output_index
// mapping, per-stream order under concurrency, format conversion), over a
// real loopback port with the real job queue. Here: outputs and their
// indices, damaged and compressed requests, the threads reflection streams
// take, a drain with a stream open, and several model instances. The fixture
// is in testing/server_test_fixture.h; server_limits_test.cc,
// server_memory_budget_test.cc, server_drain_deadline_test.cc and
// server_idle_stream_test.cc test the rest.
#include "server/service/server.h"

#include <atomic>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "grpcpp/client_context.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "server/service/image_codec.h"
#include "server/service/testing/copy_model.h"
#include "server/service/testing/eventually.h"
#include "server/service/testing/raw_stream.h"
#include "server/service/testing/server_test_fixture.h"
#include "stylizer/v1/stylizer.grpc.pb.h"

namespace stylizer {
namespace {

using ::stylizer::testing::Eventually;
using ::stylizer::testing::Frame;
using ::stylizer::testing::Raw;
using ::stylizer::testing::ServerTest;

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

// A compressed request is refused before it is inflated: gRPC inflates a
// message whole before checking its size, so any caller (health and
// GetModelInfo need no token) could make 4 MB of gzip take 4 GiB.
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

}  // namespace
}  // namespace stylizer
