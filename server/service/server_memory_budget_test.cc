// Tests of what calls hold in the Server's memory budget while a held model
// keeps them running: still images and frames reserve their decoded input,
// outputs and encoded copies, and their messages' own bytes; what does not
// fit beside them waits (the same stream's frames) or is refused with a retry
// hint (other calls), and everything is given back, the gauges and byte
// counters following.
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "grpcpp/client_context.h"
#include "gtest/gtest.h"
#include "server/service/image_codec.h"
#include "server/service/retry_info.h"
#include "server/service/server.h"
#include "server/service/status_util.h"
#include "server/service/testing/eventually.h"
#include "server/service/testing/server_test_fixture.h"
#include "stylizer/v1/stylizer.grpc.pb.h"

namespace stylizer {
namespace {

using ::stylizer::testing::Eventually;
using ::stylizer::testing::Frame;
using ::stylizer::testing::GatedCopyModel;
using ::stylizer::testing::MemoryBudgetServerTest;
using ::stylizer::testing::MetricValue;
using ::stylizer::testing::Raw;
using ::stylizer::testing::TestMetrics;

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

}  // namespace
}  // namespace stylizer
