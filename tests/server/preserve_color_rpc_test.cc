// preserve_color end to end on StylizeImage and StylizeFrames: a real
// in-process server on a loopback port with the random test archive. The
// outputs must carry the input's chroma and the model's luminance; the same
// calls without the option show the model does change the colours (so the
// checks can fail).
#include <algorithm>
#include <cmath>
#include <memory>
#include <thread>
#include <vector>

#include "grpcpp/client_context.h"
#include "gtest/gtest.h"
#include "server/service/server.h"
#include "server/service/testing/style_protos.h"
#include "tests/server/server_test_util.h"

namespace stylizer::testing {
namespace {

constexpr int kW = 96;
constexpr int kH = 64;

// Mean absolute differences of two same-size frames in BT.601 full-range
// YCbCr: of Y, and of Cb and Cr together.
struct YccDiff {
  double luma = 0;
  double chroma = 0;
};

YccDiff Compare(const RgbFrame& a, const RgbFrame& b) {
  EXPECT_EQ(a.pixels.size(), b.pixels.size());
  YccDiff d;
  const size_t n = std::min(a.pixels.size(), b.pixels.size()) / 3;
  for (size_t i = 0; i < n; ++i) {
    const uint8_t* p = &a.pixels[3 * i];
    const uint8_t* q = &b.pixels[3 * i];
    const double dr = p[0] - q[0], dg = p[1] - q[1], db = p[2] - q[2];
    d.luma += std::abs(0.299 * dr + 0.587 * dg + 0.114 * db);
    d.chroma += std::abs(-0.168736 * dr - 0.331264 * dg + 0.5 * db) +
                std::abs(0.5 * dr - 0.418688 * dg - 0.081312 * db);
  }
  d.luma /= n;
  d.chroma /= 2.0 * n;
  return d;
}

class PreserveColorRpcTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto server = Server::BuildAndStart(TestServerOptions(SharedRandomModel()));
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    ASSERT_TRUE(server_->WaitUntilReady().ok());
    stub_ = PlainStub(server_->port());
  }
  void TearDown() override { server_->Drain(absl::Seconds(10)); }

  // The request's outputs, decoded.
  std::vector<RgbFrame> Stylize(const v1::StylizeImageRequest& request) {
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(60)));
    v1::StylizeImageResponse response;
    grpc::Status status = stub_->StylizeImage(&context, request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    std::vector<RgbFrame> frames;
    for (const v1::StyledImage& image : response.images()) {
      absl::StatusOr<RgbFrame> frame = Decode(image.image());
      EXPECT_TRUE(frame.ok()) << frame.status();
      if (frame.ok()) frames.push_back(*std::move(frame));
    }
    return frames;
  }

  std::unique_ptr<Server> server_;
  std::unique_ptr<v1::Stylizer::Stub> stub_;
};

// The bounds below hold with wide margins: preserved outputs measured about
// 0.3 levels of mean chroma difference, plain ones over 10.
constexpr double kMaxPreservedChroma = 2.0;
constexpr double kMinPlainChroma = 5.0;

TEST_F(PreserveColorRpcTest, StylizeImageKeepsTheInputsChroma) {
  const RgbFrame input = TestFrame(kW, kH, 3);
  v1::StylizeImageRequest request;
  *request.mutable_image() = PngImage(input);  // PNG out: lossless
  *request.add_styles() = Index(0);
  *request.add_styles() = Blend({1, 3}, {});
  const std::vector<RgbFrame> plain = Stylize(request);
  request.set_preserve_color(true);
  const std::vector<RgbFrame> kept = Stylize(request);
  ASSERT_EQ(plain.size(), 2u);
  ASSERT_EQ(kept.size(), 2u);
  for (int i = 0; i < 2; ++i) {
    SCOPED_TRACE(::testing::Message() << "output " << i);
    const YccDiff vs_input = Compare(input, kept[i]);
    EXPECT_LT(vs_input.chroma, kMaxPreservedChroma);
    EXPECT_GT(vs_input.luma, 3.0) << "the luminance should be stylized";
    EXPECT_LT(Compare(plain[i], kept[i]).luma, 1.5)
        << "the luminance should be the model's";
    EXPECT_GT(Compare(input, plain[i]).chroma, kMinPlainChroma)
        << "without the option the model changes the colours";
  }
}

TEST_F(PreserveColorRpcTest, StylizeFramesAppliesItPerFrame) {
  using Stream = grpc::ClientReaderWriter<v1::StylizeFramesRequest,
                                          v1::StylizeFramesResponse>;
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(60)));
  std::unique_ptr<Stream> stream = stub_->StylizeFrames(&context);
  // Frames 0 and 2 ask for it, frame 1 does not (it does not carry over);
  // the styles do carry over from frame 0.
  const bool preserve[] = {true, false, true};
  std::vector<RgbFrame> inputs;
  for (int i = 0; i < 3; ++i) {
    inputs.push_back(TestFrame(kW, kH, 10 + i));
    v1::StylizeFramesRequest request;
    request.set_sequence(i);
    *request.mutable_image() = RawImage(inputs.back());
    if (i == 0) *request.add_styles() = Index(2);
    request.set_preserve_color(preserve[i]);
    ASSERT_TRUE(stream->Write(request));
  }
  stream->WritesDone();
  v1::StylizeFramesResponse response;
  int n = 0;
  while (stream->Read(&response)) {
    SCOPED_TRACE(::testing::Message() << "frame " << n);
    ASSERT_LT(n, 3);
    ASSERT_EQ(response.images_size(), 1);
    absl::StatusOr<RgbFrame> out = Decode(response.images(0).image());
    ASSERT_TRUE(out.ok()) << out.status();
    const YccDiff d = Compare(inputs[n], *out);
    if (preserve[n]) {
      EXPECT_LT(d.chroma, kMaxPreservedChroma);
      EXPECT_GT(d.luma, 3.0);
    } else {
      EXPECT_GT(d.chroma, kMinPlainChroma);
    }
    ++n;
  }
  grpc::Status status = stream->Finish();
  EXPECT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(n, 3);
}

}  // namespace
}  // namespace stylizer::testing
