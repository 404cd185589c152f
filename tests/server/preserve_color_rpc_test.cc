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

// Checks that `kept` (an output with preserve_color) has the luminance of
// `plain` (the same output without it) and the chroma of `input` wherever
// that colour exists at that luminance (elsewhere the server lowers the
// saturation; see docs/api.md). Means and fractions, not every pixel: the
// model may round a pixel differently in another batch.
void ExpectPreserved(const RgbFrame& input, const RgbFrame& plain,
                     const RgbFrame& kept) {
  ASSERT_EQ(input.pixels.size(), kept.pixels.size());
  ASSERT_EQ(plain.pixels.size(), kept.pixels.size());
  const size_t n = input.pixels.size() / 3;
  double luma_error = 0, chroma_error = 0;
  size_t fits = 0, close = 0;
  for (size_t i = 0; i < n; ++i) {
    const uint8_t* in = &input.pixels[3 * i];
    const uint8_t* model = &plain.pixels[3 * i];
    const uint8_t* out = &kept.pixels[3 * i];
    const double y_in = 0.299 * in[0] + 0.587 * in[1] + 0.114 * in[2];
    const double y = 0.299 * model[0] + 0.587 * model[1] + 0.114 * model[2];
    const double dr = out[0] - in[0], dg = out[1] - in[1], db = out[2] - in[2];
    luma_error +=
        std::abs(0.299 * out[0] + 0.587 * out[1] + 0.114 * out[2] - y);
    bool inside = true;
    for (int c = 0; c < 3; ++c) {
      inside = inside && in[c] + y - y_in >= 1 && in[c] + y - y_in <= 254;
    }
    if (!inside) continue;
    ++fits;
    const double cb = -0.168736 * dr - 0.331264 * dg + 0.5 * db;
    const double cr = 0.5 * dr - 0.418688 * dg - 0.081312 * db;
    chroma_error += (std::abs(cb) + std::abs(cr)) / 2;
    close += std::abs(cb) <= 2 && std::abs(cr) <= 2;
  }
  EXPECT_LT(luma_error / n, 1.0) << "the luminance should be the model's";
  ASSERT_GT(fits, n / 2) << "most test colours should fit";
  EXPECT_LT(chroma_error / fits, 1.0) << "the chroma should be the input's";
  EXPECT_GT(close, fits * 99 / 100);
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

// Without preserve_color the random test model moves the colours by about
// 45 levels on average; 5 leaves a wide margin.
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
    ExpectPreserved(input, plain[i], kept[i]);
    EXPECT_GT(Compare(input, kept[i]).luma, 3.0)
        << "the luminance should be stylized";
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
  // Two pictures, each with and without the option (it does not carry
  // over to the next frame); the style does carry over from frame 0.
  const bool preserve[] = {true, false, false, true};
  const RgbFrame pictures[] = {TestFrame(kW, kH, 10), TestFrame(kW, kH, 11)};
  for (int i = 0; i < 4; ++i) {
    v1::StylizeFramesRequest request;
    request.set_sequence(i);
    *request.mutable_image() = RawImage(pictures[i / 2]);
    if (i == 0) *request.add_styles() = Index(2);
    request.set_preserve_color(preserve[i]);
    ASSERT_TRUE(stream->Write(request));
  }
  stream->WritesDone();
  std::vector<RgbFrame> outputs;
  v1::StylizeFramesResponse response;
  while (stream->Read(&response)) {
    ASSERT_EQ(response.sequence(), outputs.size());
    ASSERT_EQ(response.images_size(), 1);
    absl::StatusOr<RgbFrame> out = Decode(response.images(0).image());
    ASSERT_TRUE(out.ok()) << out.status();
    outputs.push_back(*std::move(out));
  }
  grpc::Status status = stream->Finish();
  EXPECT_TRUE(status.ok()) << status.error_message();
  ASSERT_EQ(outputs.size(), 4u);
  {
    SCOPED_TRACE("picture 0");
    ExpectPreserved(pictures[0], outputs[1], outputs[0]);
    EXPECT_GT(Compare(pictures[0], outputs[1]).chroma, kMinPlainChroma);
  }
  {
    SCOPED_TRACE("picture 1");
    ExpectPreserved(pictures[1], outputs[2], outputs[3]);
    EXPECT_GT(Compare(pictures[1], outputs[2]).chroma, kMinPlainChroma);
  }
}

}  // namespace
}  // namespace stylizer::testing
