// Tests of Server and the Stylizer reactors without LibTorch: a model that
// copies its input lets every test check pixels end to end (output_index
// mapping, per-stream order under concurrency, format conversion), over a
// real loopback port with the real job queue.
#include "server/service/server.h"

#include <atomic>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
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
    absl::StatusOr<std::unique_ptr<Server>> server = Server::BuildAndStart(o);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    ASSERT_TRUE(server_->WaitUntilReady().ok());
    stub_ = v1::Stylizer::NewStub(
        grpc::CreateChannel(absl::StrCat("127.0.0.1:", server_->port()),
                            grpc::InsecureChannelCredentials()));
  }
  void TearDown() override { server_->Drain(absl::Seconds(10)); }

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

}  // namespace
}  // namespace stylizer
