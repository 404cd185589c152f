// Tests of the Server's size limits: the frame pixel limit and max_side
// (the picture scaled to fit, and the max_side a refusal names), the largest
// message it sends, a job's share of the queue, and the memory budget's split
// into gRPC's share and the queue, with frames held in it until answered.
#include <memory>
#include <tuple>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gmock/gmock.h"
#include "grpcpp/client_context.h"
#include "gtest/gtest.h"
#include "server/service/image_codec.h"
#include "server/service/retry_info.h"
#include "server/service/server.h"
#include "server/service/status_util.h"
#include "server/service/testing/copy_model.h"
#include "server/service/testing/eventually.h"
#include "server/service/testing/server_test_fixture.h"
#include "stylizer/v1/stylizer.grpc.pb.h"

namespace stylizer {
namespace {

using ::stylizer::testing::Eventually;
using ::stylizer::testing::Frame;
using ::stylizer::testing::MemoryBudgetServerTest;
using ::stylizer::testing::Raw;
using ::stylizer::testing::ServerTest;

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

}  // namespace
}  // namespace stylizer
