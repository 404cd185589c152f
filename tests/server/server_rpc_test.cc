// Integration tests of the Stylizer RPCs: a real in-process server on a
// loopback port with the random test archive, called through the generated
// stubs. Covers every RPC, ordering under 16 concurrent streams, cancellation
// and deadlines reaching the queue, and every error row of the API contract.
#include <atomic>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/client_context.h"
#include "gtest/gtest.h"
#include "server/service/retry_info.h"
#include "server/service/server.h"
#include "server/service/status_util.h"
#include "server/service/testing/style_protos.h"
#include "server/service/work_pool.h"
#include "tests/server/server_test_util.h"

namespace stylizer::testing {
namespace {

using ::grpc::health::v1::Health;
using ::grpc::health::v1::HealthCheckRequest;
using ::grpc::health::v1::HealthCheckResponse;
using ::testing::HasSubstr;

constexpr int kW = 64;
constexpr int kH = 48;

int MaxDiff(const RgbFrame& a, const RgbFrame& b) {
  int d = 0;
  for (size_t i = 0; i < a.pixels.size(); ++i) {
    d = std::max(d, std::abs(int(a.pixels[i]) - int(b.pixels[i])));
  }
  return d;
}

class ServerRpcTest : public ::testing::Test {
 protected:
  void SetUp() override { StartWith(TestServerOptions(&model_)); }

  void StartWith(Server::Options options) {
    if (server_ != nullptr) {
      model_.Release();
      server_->Drain(absl::Seconds(5));
    }
    absl::StatusOr<std::unique_ptr<Server>> server =
        Server::BuildAndStart(options);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    ASSERT_TRUE(server_->WaitUntilReady().ok());
    channel_ = PlainChannel(server_->port());
    stub_ = v1::Stylizer::NewStub(channel_);
  }

  void TearDown() override {
    model_.Release();
    for (std::thread& blocker : blockers_) blocker.join();
    if (server_ != nullptr) server_->Drain(absl::Seconds(10));
  }

  grpc::Status Image(const v1::StylizeImageRequest& request,
                     v1::StylizeImageResponse* response,
                     absl::Duration deadline = absl::Seconds(60)) {
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + deadline));
    return stub_->StylizeImage(&context, request, response);
  }

  int64_t QueuedItems() { return server_->queue()->queued_items(); }

  // Holds the model with two calls of `request` (4 styles) in the server:
  // one batch on the device, and 4 more items queued behind it.
  void HoldTwoImages(const v1::StylizeImageRequest& request) {
    model_.Hold();
    blockers_.emplace_back([this, request] {
      v1::StylizeImageResponse response;
      blocked_[0] = Image(request, &response);
    });
    ASSERT_TRUE(model_.AwaitHeldBatch());  // 4 items on the device
    blockers_.emplace_back([this, request] {
      v1::StylizeImageResponse response;
      blocked_[1] = Image(request, &response);
    });
    // Taken into the next batch while the device is busy.
    ASSERT_TRUE(WaitFor([&] { return QueuedItems() == 8; })) << QueuedItems();
  }

  // Lets the two calls finish: both OK, nothing left queued, and only their
  // batches computed after the warm-up.
  void ReleaseTwoImages() {
    model_.Release();
    for (std::thread& blocker : blockers_) blocker.join();
    blockers_.clear();
    EXPECT_TRUE(blocked_[0].ok());
    EXPECT_TRUE(blocked_[1].ok());
    EXPECT_TRUE(WaitFor([&] { return QueuedItems() == 0; }));
    EXPECT_EQ(model_.batches(), 1 + 2);  // warm-up + the two blockers
  }

  ControlledModel model_{SharedRandomModel()};
  std::unique_ptr<Server> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::Stylizer::Stub> stub_;
  std::vector<std::thread> blockers_;
  grpc::Status blocked_[2];
};

TEST_F(ServerRpcTest, GetModelInfoDescribesTheModel) {
  grpc::ClientContext context;
  v1::ModelInfo info;
  ASSERT_TRUE(stub_->GetModelInfo(&context, {}, &info).ok());
  ASSERT_EQ(info.styles_size(), 4);
  const char* names[] = {"klimt", "mosaic", "outcry", "picasso"};
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(info.styles(i).index(), static_cast<uint32_t>(i));
    EXPECT_EQ(info.styles(i).name(), names[i]);
  }
  EXPECT_FALSE(info.name().empty());
  EXPECT_EQ(info.device(), "cpu");
  EXPECT_EQ(info.precision(), "fp32");
  EXPECT_EQ(info.max_batch_size(), 4u);
  EXPECT_EQ(info.max_frame_pixels(), 640u * 480u);
}

TEST_F(ServerRpcTest, StylizeImagePngWithEveryStyle) {
  v1::StylizeImageRequest request;
  *request.mutable_image() = PngImage(TestFrame(kW, kH, 1));
  v1::StylizeImageResponse response;
  ASSERT_TRUE(Image(request, &response).ok());
  ASSERT_EQ(response.images_size(), 4);
  std::vector<RgbFrame> outputs;
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(response.images(i).output_index(), static_cast<uint32_t>(i));
    ASSERT_TRUE(response.images(i).image().has_encoded());  // PNG by default
    absl::StatusOr<RgbFrame> frame = Decode(response.images(i).image());
    ASSERT_TRUE(frame.ok()) << frame.status();
    EXPECT_EQ(frame->width, kW);
    EXPECT_EQ(frame->height, kH);
    outputs.push_back(*std::move(frame));
  }
  EXPECT_GT(MaxDiff(outputs[0], outputs[1]), 0) << "styles should differ";
}

TEST_F(ServerRpcTest, StylizeImageRawJpegAndBlends) {
  const RgbFrame frame = TestFrame(kW, kH, 2);
  v1::StylizeImageRequest request;
  *request.mutable_image() = RawImage(frame);
  *request.add_styles() = Index(2);
  *request.add_styles() = Blend({2}, {5});  // one-hot blend == index 2
  *request.add_styles() = Blend({0, 3}, {1, 3});
  v1::StylizeImageResponse raw;
  ASSERT_TRUE(Image(request, &raw).ok());
  ASSERT_EQ(raw.images_size(), 3);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(raw.images(i).output_index(), static_cast<uint32_t>(i));
    ASSERT_TRUE(raw.images(i).image().has_raw());  // raw in -> raw out
    EXPECT_EQ(raw.images(i).image().raw().width(), uint32_t{kW});
  }
  auto a = Decode(raw.images(0).image());
  auto b = Decode(raw.images(1).image());
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_LE(MaxDiff(*a, *b), 1);

  request.set_output_format(v1::IMAGE_FORMAT_JPEG);
  *request.mutable_image() = JpegImage(frame);
  v1::StylizeImageResponse jpeg;
  ASSERT_TRUE(Image(request, &jpeg).ok());
  ASSERT_EQ(jpeg.images_size(), 3);
  auto decoded = Decode(jpeg.images(2).image());
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(decoded->width, kW);
}

TEST_F(ServerRpcTest, ErrorRowsOfTheContract) {
  // A PNG header that claims 100000x100000 pixels, and nothing else.
  std::string huge(
      "\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR\0\x01\x86\xa0\0\x01\x86\xa0"
      "\x08\x02\0\0\0\0\0\0\0",
      33);
  const std::string png = PngImage(TestFrame(kW, kH, 3)).encoded();
  struct Case {
    std::string name;
    v1::StylizeImageRequest request;
    grpc::StatusCode code;
    std::string message;
  };
  std::vector<Case> cases;
  auto add = [&](std::string name, grpc::StatusCode code, std::string message,
                 std::function<void(v1::StylizeImageRequest*)> fill) {
    Case c{std::move(name), {}, code, std::move(message)};
    *c.request.mutable_image() = PngImage(TestFrame(kW, kH, 3));
    fill(&c.request);
    cases.push_back(std::move(c));
  };
  using grpc::StatusCode;
  add("index out of range", StatusCode::INVALID_ARGUMENT, "out of range",
      [](auto* r) { *r->add_styles() = Index(4); });
  add("negative blend", StatusCode::INVALID_ARGUMENT, "non-negative",
      [](auto* r) {
        *r->add_styles() = Blend({0, 1}, {1, -1});
      });
  add("zero blend", StatusCode::INVALID_ARGUMENT, "all zero", [](auto* r) {
    *r->add_styles() = Blend({0, 1}, {0, 0});
  });
  add("empty style", StatusCode::INVALID_ARGUMENT, "neither index nor blend",
      [](auto* r) { r->add_styles(); });
  add("no image", StatusCode::INVALID_ARGUMENT, "no image",
      [](auto* r) { r->clear_image(); });
  add("garbage bytes", StatusCode::INVALID_ARGUMENT, "neither PNG nor JPEG",
      [](auto* r) { r->mutable_image()->set_encoded("hello, world"); });
  add("truncated png", StatusCode::INVALID_ARGUMENT, "PNG",
      [&](auto* r) { r->mutable_image()->set_encoded(png.substr(0, 70)); });
  add("oversize header", StatusCode::INVALID_ARGUMENT, "100000x100000",
      [&](auto* r) { r->mutable_image()->set_encoded(huge); });
  add("oversize raw", StatusCode::INVALID_ARGUMENT, "limit",
      [](auto* r) { *r->mutable_image() = RawImage(TestFrame(700, 500, 0)); });
  add("raw size mismatch", StatusCode::INVALID_ARGUMENT, "bytes", [](auto* r) {
    *r->mutable_image() = RawImage(TestFrame(kW, kH, 0));
    r->mutable_image()->mutable_raw()->set_width(kW + 1);
  });
  add("message over the size limit", StatusCode::RESOURCE_EXHAUSTED, "",
      [](auto* r) {
        r->mutable_image()->set_encoded(std::string(5 << 20, 'x'));
      });
  for (const Case& c : cases) {
    v1::StylizeImageResponse response;
    grpc::Status status = Image(c.request, &response);
    EXPECT_EQ(status.error_code(), c.code)
        << c.name << ": " << status.error_message();
    EXPECT_THAT(status.error_message(), HasSubstr(c.message)) << c.name;
  }
  // The server still serves.
  v1::StylizeImageRequest ok;
  *ok.mutable_image() = PngImage(TestFrame(kW, kH, 3));
  v1::StylizeImageResponse response;
  EXPECT_TRUE(Image(ok, &response).ok());
}

TEST_F(ServerRpcTest, ModelFailureIsInternalAndTheServerKeepsServing) {
  model_.FailWidth(13);
  v1::StylizeImageRequest request;
  *request.mutable_image() = RawImage(TestFrame(13, 10, 0));
  v1::StylizeImageResponse response;
  grpc::Status status = Image(request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INTERNAL)
      << status.error_message();
  *request.mutable_image() = RawImage(TestFrame(14, 10, 0));
  EXPECT_TRUE(Image(request, &response).ok());
}

TEST_F(ServerRpcTest, FullQueueRefusesAStillImage) {
  Server::Options options = TestServerOptions(&model_);
  options.queue.max_queued_items = 8;
  StartWith(options);
  if (HasFatalFailure()) return;
  model_.Hold();
  v1::StylizeImageRequest request;
  *request.mutable_image() = RawImage(TestFrame(kW, kH, 0));
  grpc::Status first, second;
  std::thread blocker1([&] {
    v1::StylizeImageResponse response;
    first = Image(request, &response);
  });
  ASSERT_TRUE(model_.AwaitHeldBatch());  // 4 items (4 styles) on the device
  std::thread blocker2([&] {
    v1::StylizeImageResponse response;
    second = Image(request, &response);
  });
  // 4 more queued: the queue (8 items) is full.
  ASSERT_TRUE(WaitFor([&] { return QueuedItems() == 8; })) << QueuedItems();
  v1::StylizeImageResponse response;
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(60)));
  grpc::Status third = stub_->StylizeImage(&context, request, &response);
  EXPECT_EQ(third.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED)
      << third.error_message();
  // Busy: the hint clients act on (RetryInfo, and the trailer gRPC's retry
  // policies read), not only the words "retry in about".
  EXPECT_TRUE(RetryDelay(FromGrpcStatus(third)).has_value())
      << "no RetryInfo in the details";
  EXPECT_EQ(context.GetServerTrailingMetadata().count("grpc-retry-pushback-ms"),
            1u);
  model_.Release();
  blocker1.join();
  blocker2.join();
  EXPECT_TRUE(first.ok()) << first.error_message();
  EXPECT_TRUE(second.ok()) << second.error_message();
}

// Still images wait for the bounded work pool, and past what it queues and
// parks they are refused as busy, with a retry hint: the pool never grows
// without bound under a burst. (Only the pool's own test refused; a call
// that posted without the bound passed every test.)
TEST_F(ServerRpcTest, AFullWorkPoolRefusesAStillImageAsBusy) {
  Server::Options options = TestServerOptions(&model_);
  options.work_threads = 1;
  StartWith(options);
  if (HasFatalFailure()) return;
  WorkPool* pool = server_->context()->pool();
  absl::Notification release;
  absl::Notification blocking;
  pool->Post([&] {
    blocking.Notify();
    release.WaitForNotification();
  });
  blocking.WaitForNotification();
  const int room = pool->max_queued() + pool->max_parked();
  v1::StylizeImageRequest request;
  *request.mutable_image() = RawImage(TestFrame(kW, kH, 0));
  *request.add_styles() = Index(0);  // all fit the job queue at once
  std::vector<grpc::Status> waiting(room);
  std::vector<std::thread> calls;
  for (int i = 0; i < room; ++i) {
    calls.emplace_back([&, i] {
      v1::StylizeImageResponse response;
      waiting[i] = Image(request, &response);
    });
  }
  ASSERT_TRUE(WaitFor([&] { return pool->queued() + pool->parked() == room; }))
      << pool->queued() << " queued, " << pool->parked() << " parked";
  v1::StylizeImageResponse response;
  const grpc::Status refused = Image(request, &response);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED)
      << refused.error_message();
  EXPECT_THAT(refused.error_message(), HasSubstr("server is busy"));
  EXPECT_TRUE(RetryDelay(FromGrpcStatus(refused)).has_value());
  release.Notify();
  for (std::thread& call : calls) call.join();
  for (int i = 0; i < room; ++i) {
    EXPECT_TRUE(waiting[i].ok()) << i << ": " << waiting[i].error_message();
  }
}

TEST_F(ServerRpcTest, DeadlineExceededDropsTheQueuedWork) {
  v1::StylizeImageRequest request;
  *request.mutable_image() = RawImage(TestFrame(kW, kH, 0));
  HoldTwoImages(request);
  if (HasFatalFailure()) return;
  grpc::Status late;
  // Its deadline leaves a loaded machine time to queue it and to see it
  // queued before it is dropped.
  std::thread late_call([&] {
    v1::StylizeImageResponse response;
    late = Image(request, &response, absl::Seconds(3));
  });
  EXPECT_TRUE(WaitFor([&] { return QueuedItems() == 12; })) << QueuedItems();
  late_call.join();
  EXPECT_EQ(late.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  // The late call's items were dropped, never computed.
  EXPECT_TRUE(WaitFor([&] { return QueuedItems() == 8; })) << QueuedItems();
  ReleaseTwoImages();
}

// The same for a client that cancels a call with no deadline: only the
// reactor's cancel can drop the work (the queue has no deadline to see).
TEST_F(ServerRpcTest, ACancelledImageCallDropsTheQueuedWork) {
  v1::StylizeImageRequest request;
  *request.mutable_image() = RawImage(TestFrame(kW, kH, 0));
  HoldTwoImages(request);
  if (HasFatalFailure()) return;
  grpc::ClientContext context;  // no deadline
  grpc::Status cancelled;
  std::thread cancelled_call([&] {
    v1::StylizeImageResponse response;
    cancelled = stub_->StylizeImage(&context, request, &response);
  });
  EXPECT_TRUE(WaitFor([&] { return QueuedItems() == 12; })) << QueuedItems();
  context.TryCancel();
  cancelled_call.join();
  EXPECT_EQ(cancelled.error_code(), grpc::StatusCode::CANCELLED);
  // Its items were dropped while the device was still busy, never computed.
  EXPECT_TRUE(WaitFor([&] { return QueuedItems() == 8; })) << QueuedItems();
  ReleaseTwoImages();
}

using FramesStream = grpc::ClientReaderWriter<v1::StylizeFramesRequest,
                                              v1::StylizeFramesResponse>;

TEST_F(ServerRpcTest, StylizeFramesAnswersInOrderWithStickyStyles) {
  grpc::ClientContext context;
  std::unique_ptr<FramesStream> stream = stub_->StylizeFrames(&context);
  constexpr int kFrames = 12;
  std::thread writer([&] {
    for (int i = 0; i < kFrames; ++i) {
      v1::StylizeFramesRequest request;
      request.set_sequence(1000 + i);
      *request.mutable_image() = RawImage(TestFrame(kW, kH, i));
      if (i == 4) *request.add_styles() = Index(3);
      if (i == 8) {
        *request.add_styles() = Index(1);
        *request.add_styles() = Blend({0, 2}, {});
        request.set_output_format(v1::IMAGE_FORMAT_PNG);
      }
      ASSERT_TRUE(stream->Write(request));
    }
    stream->WritesDone();
  });
  v1::StylizeFramesResponse response;
  int n = 0;
  while (stream->Read(&response)) {
    EXPECT_EQ(response.sequence(), 1000u + n);
    const int expected = n < 4 ? 4 : n < 8 ? 1 : 2;  // all, then sticky
    ASSERT_EQ(response.images_size(), expected) << n;
    EXPECT_EQ(response.images(0).image().has_raw(), n != 8);  // PNG asked
    ++n;
  }
  writer.join();
  grpc::Status status = stream->Finish();
  EXPECT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(n, kFrames);
}

TEST_F(ServerRpcTest, SixteenConcurrentStreamsStayOrderedAndComplete) {
  constexpr int kStreams = 16;
  constexpr int kFrames = 10;
  std::atomic<int> failures{0};
  std::vector<std::thread> clients;
  for (int s = 0; s < kStreams; ++s) {
    clients.emplace_back([&, s] {
      grpc::ClientContext context;
      context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Minutes(3)));
      std::unique_ptr<FramesStream> stream = stub_->StylizeFrames(&context);
      std::thread writer([&] {
        for (int i = 0; i < kFrames; ++i) {
          v1::StylizeFramesRequest request;
          request.set_sequence(s * 1000 + i);
          // Two sizes, so batches mix shapes across streams.
          *request.mutable_image() =
              RawImage(TestFrame(s % 2 ? 32 : 24, 24, s + i));
          *request.add_styles() = Index(s % 4);
          *request.add_styles() = Index((s + 1) % 4);
          if (!stream->Write(request)) break;
        }
        stream->WritesDone();
      });
      v1::StylizeFramesResponse response;
      int n = 0;
      while (stream->Read(&response)) {
        if (response.sequence() != static_cast<uint64_t>(s * 1000 + n) ||
            response.images_size() != 2 ||
            response.images(1).image().raw().width() != (s % 2 ? 32u : 24u)) {
          ++failures;
        }
        ++n;
      }
      writer.join();
      if (!stream->Finish().ok() || n != kFrames) ++failures;
    });
  }
  for (std::thread& t : clients) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(QueuedItems(), 0);
}

// A stream whose frames the queue cannot take is not read further: the queue
// holds at most the job's frame limit, however fast the client writes.
TEST_F(ServerRpcTest, StreamStopsReadingWhileTheQueueIsFull) {
  model_.Hold();
  grpc::ClientContext context;
  std::unique_ptr<FramesStream> stream = stub_->StylizeFrames(&context);
  constexpr int kFrames = 40;
  std::atomic<int> written{0};
  std::thread writer([&] {
    for (int i = 0; i < kFrames; ++i) {
      v1::StylizeFramesRequest request;
      request.set_sequence(i);
      *request.mutable_image() = RawImage(TestFrame(kW, kH, i));
      *request.add_styles() = Index(1);
      if (!stream->Write(request)) break;
      ++written;
    }
    stream->WritesDone();
  });
  // max_frames_in_flight_per_job is 4 (one style each).
  ASSERT_TRUE(WaitFor([&] { return QueuedItems() == 4; })) << QueuedItems();
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(QueuedItems(), 4);
  model_.Release();
  v1::StylizeFramesResponse response;
  int n = 0;
  while (stream->Read(&response)) {
    EXPECT_EQ(response.sequence(), static_cast<uint64_t>(n));
    ++n;
  }
  writer.join();
  EXPECT_TRUE(stream->Finish().ok());
  EXPECT_EQ(n, kFrames);
  EXPECT_EQ(written.load(), kFrames);
}

TEST_F(ServerRpcTest, CancelledStreamFreesItsQueueItems) {
  model_.Hold();
  grpc::ClientContext context;
  std::unique_ptr<FramesStream> stream = stub_->StylizeFrames(&context);
  for (int i = 0; i < 4; ++i) {  // 4 frames x 4 styles = 16 items
    v1::StylizeFramesRequest request;
    request.set_sequence(i);
    *request.mutable_image() = RawImage(TestFrame(kW, kH, i));
    ASSERT_TRUE(stream->Write(request));
  }
  ASSERT_TRUE(WaitFor([&] { return QueuedItems() == 16; })) << QueuedItems();
  context.TryCancel();
  // Everything but the batch on the device and the one prepared behind it
  // is dropped at once.
  EXPECT_TRUE(WaitFor([&] { return QueuedItems() <= 8; })) << QueuedItems();
  model_.Release();
  EXPECT_TRUE(WaitFor([&] { return QueuedItems() == 0; }));
  EXPECT_EQ(stream->Finish().error_code(), grpc::StatusCode::CANCELLED);
  EXPECT_TRUE(
      WaitFor([&] { return server_->context()->active_streams() == 0; }));
}

// A frame stream is read on only while fewer than
// max_frames_buffered_per_stream of its frames are unanswered: the rest wait
// in the client's flow-control window, not in the server's memory. (No test
// set the limit: with its check gone every test passed.)
TEST_F(ServerRpcTest, AFrameStreamIsReadOnlyWhileItsBufferHasRoom) {
  Server::Options options = TestServerOptions(&model_);
  options.limits.max_frames_buffered_per_stream = 2;
  StartWith(options);
  if (HasFatalFailure()) return;
  model_.Hold();
  grpc::ClientContext context;
  std::unique_ptr<FramesStream> stream = stub_->StylizeFrames(&context);
  constexpr int kFrames = 5;
  for (int i = 0; i < kFrames; ++i) {  // small: every write completes
    v1::StylizeFramesRequest request;
    request.set_sequence(i);
    *request.mutable_image() = RawImage(TestFrame(kW, kH, i));
    ASSERT_TRUE(stream->Write(request));
  }
  stream->WritesDone();
  // Two frames of 4 styles each are taken, and no more while they wait.
  ASSERT_TRUE(WaitFor([&] { return QueuedItems() == 8; })) << QueuedItems();
  absl::SleepFor(absl::Milliseconds(500));
  EXPECT_EQ(QueuedItems(), 8);
  model_.Release();
  v1::StylizeFramesResponse response;
  int answered = 0;
  while (stream->Read(&response)) {
    EXPECT_EQ(response.sequence(), static_cast<uint64_t>(answered));
    ++answered;
  }
  EXPECT_TRUE(stream->Finish().ok());
  EXPECT_EQ(answered, kFrames);
}

TEST_F(ServerRpcTest, StreamDeadlineExceeded) {
  model_.Hold();
  grpc::ClientContext context;
  context.set_deadline(
      absl::ToChronoTime(absl::Now() + absl::Milliseconds(500)));
  std::unique_ptr<FramesStream> stream = stub_->StylizeFrames(&context);
  for (int i = 0; i < 4; ++i) {  // 16 items
    v1::StylizeFramesRequest request;
    request.set_sequence(i);
    *request.mutable_image() = RawImage(TestFrame(kW, kH, i));
    stream->Write(request);
  }
  v1::StylizeFramesResponse response;
  while (stream->Read(&response)) {
  }
  EXPECT_EQ(stream->Finish().error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_TRUE(WaitFor([&] { return QueuedItems() <= 8; })) << QueuedItems();
  model_.Release();
  EXPECT_TRUE(WaitFor([&] { return QueuedItems() == 0; }));
}

// The idle timer counts only time spent waiting on the client: a frame the
// model holds for many idle timeouts does not end the stream; once it is
// answered, the silent client's stream ends with DEADLINE_EXCEEDED.
TEST_F(ServerRpcTest, IdleTimeoutCountsOnlyTheClientsTime) {
  Server::Options options = TestServerOptions(&model_);
  // Long enough that a loaded machine's delay between opening the stream
  // and sending its frame does not end it first.
  options.limits.stream_idle_timeout = absl::Milliseconds(500);
  StartWith(options);
  model_.Hold();
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(60)));
  std::unique_ptr<FramesStream> stream = stub_->StylizeFrames(&context);
  v1::StylizeFramesRequest request;
  *request.mutable_image() = RawImage(TestFrame(kW, kH, 0));
  ASSERT_TRUE(stream->Write(request));
  ASSERT_TRUE(model_.AwaitHeldBatch()) << stream->Finish().error_message();
  // Five idle timeouts while the server works (a longer pause only makes the
  // check stronger; nothing waits on it).
  absl::SleepFor(absl::Milliseconds(2500));
  model_.Release();
  v1::StylizeFramesResponse response;
  ASSERT_TRUE(stream->Read(&response)) << stream->Finish().error_message();
  EXPECT_EQ(response.images_size(), 4);
  EXPECT_FALSE(stream->Read(&response));
  const grpc::Status status = stream->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_THAT(status.error_message(), HasSubstr("sent nothing for 500ms"));
  EXPECT_TRUE(
      WaitFor([&] { return server_->context()->active_streams() == 0; }));
}

TEST_F(ServerRpcTest, BadFrameEndsTheStreamWithInvalidArgument) {
  grpc::ClientContext context;
  std::unique_ptr<FramesStream> stream = stub_->StylizeFrames(&context);
  v1::StylizeFramesRequest request;
  request.set_sequence(7);
  *request.mutable_image() = RawImage(TestFrame(kW, kH, 0));
  ASSERT_TRUE(stream->Write(request));
  v1::StylizeFramesResponse response;
  ASSERT_TRUE(stream->Read(&response));
  EXPECT_EQ(response.sequence(), 7u);
  request.set_sequence(8);
  *request.add_styles() = Index(9);
  stream->Write(request);
  while (stream->Read(&response)) {
  }
  grpc::Status status = stream->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("sequence 8"));
  EXPECT_THAT(status.error_message(), HasSubstr("out of range"));
}

TEST_F(ServerRpcTest, TooManyStreamsAreRefused) {
  Server::Options options = TestServerOptions(&model_);
  options.limits.max_concurrent_streams = 1;
  StartWith(options);
  if (HasFatalFailure()) return;
  grpc::ClientContext first_context;
  std::unique_ptr<FramesStream> first = stub_->StylizeFrames(&first_context);
  v1::StylizeFramesRequest request;
  *request.mutable_image() = RawImage(TestFrame(kW, kH, 0));
  ASSERT_TRUE(first->Write(request));
  v1::StylizeFramesResponse response;
  ASSERT_TRUE(first->Read(&response));  // the first stream holds the slot

  grpc::ClientContext second_context;
  std::unique_ptr<FramesStream> second = stub_->StylizeFrames(&second_context);
  second->Write(request);
  while (second->Read(&response)) {
  }
  grpc::Status status = second->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  // Busy, not too large: a retry hint in the status's details (RetryInfo)
  // and in the trailer that gRPC's own retry policies read.
  const std::optional<absl::Duration> delay =
      RetryDelay(FromGrpcStatus(status));
  ASSERT_TRUE(delay.has_value()) << "no RetryInfo in the details";
  EXPECT_EQ(*delay, absl::Seconds(1));
  const auto& trailers = second_context.GetServerTrailingMetadata();
  const auto pushback = trailers.find("grpc-retry-pushback-ms");
  ASSERT_NE(pushback, trailers.end()) << "no grpc-retry-pushback-ms trailer";
  EXPECT_EQ(std::string(pushback->second.data(), pushback->second.size()),
            "1000");
  first->WritesDone();
  EXPECT_TRUE(first->Finish().ok());
}

// A stream's slot is free once the client has its final status (not only
// once the server has destroyed the call's reactor, which happens later, on
// another thread): back-to-back streams with a limit of one all get in.
TEST_F(ServerRpcTest, AFinishedStreamsSlotIsFreeWhenItsStatusArrives) {
  Server::Options options = TestServerOptions(&model_);
  options.limits.max_concurrent_streams = 1;
  StartWith(options);
  if (HasFatalFailure()) return;
  v1::StylizeFramesRequest request;
  *request.mutable_image() = RawImage(TestFrame(kW, kH, 0));
  for (int i = 0; i < 30; ++i) {
    grpc::ClientContext context;
    std::unique_ptr<FramesStream> stream = stub_->StylizeFrames(&context);
    request.set_sequence(0);
    stream->Write(request);
    stream->WritesDone();
    v1::StylizeFramesResponse response;
    while (stream->Read(&response)) {
    }
    grpc::Status status = stream->Finish();
    ASSERT_TRUE(status.ok())
        << "stream " << i << ": " << status.error_message();
  }
}

TEST_F(ServerRpcTest, StylizeVideoWithoutPipelineIsUnimplemented) {
  grpc::ClientContext context;
  auto stream = stub_->StylizeVideo(&context);
  stream->WritesDone();
  v1::StylizeVideoResponse response;
  while (stream->Read(&response)) {
  }
  EXPECT_EQ(stream->Finish().error_code(), grpc::StatusCode::UNIMPLEMENTED);
}

HealthCheckResponse::ServingStatus Check(grpc::Channel* channel) {
  auto health = Health::NewStub(
      std::shared_ptr<grpc::Channel>(channel, [](grpc::Channel*) {}));
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
  HealthCheckRequest request;
  request.set_service("stylizer.v1.Stylizer");
  HealthCheckResponse response;
  grpc::Status status = health->Check(&context, request, &response);
  return status.ok() ? response.status() : HealthCheckResponse::UNKNOWN;
}

// Watch streams need no token and never end by themselves: the server
// bounds them (gRPC's default health service did not: 4000 held 65 MiB).
TEST_F(ServerRpcTest, HealthWatchStreamsAreBounded) {
  TearDown();
  server_.reset();
  Server::Options options = TestServerOptions(&model_);
  options.max_health_watchers = 2;
  absl::StatusOr<std::unique_ptr<Server>> started =
      Server::BuildAndStart(options);
  ASSERT_TRUE(started.ok()) << started.status();
  server_ = *std::move(started);
  ASSERT_TRUE(server_->WaitUntilReady().ok());
  channel_ = PlainChannel(server_->port());
  stub_ = v1::Stylizer::NewStub(channel_);
  auto health = Health::NewStub(channel_);

  HealthCheckRequest request;
  request.set_service("");
  HealthCheckResponse update;
  std::vector<std::unique_ptr<grpc::ClientContext>> contexts;
  std::vector<std::unique_ptr<grpc::ClientReader<HealthCheckResponse>>> watches;
  // Each read before the next opens: the server need not take calls in the
  // order they were opened.
  for (int i = 0; i < 3; ++i) {
    contexts.push_back(std::make_unique<grpc::ClientContext>());
    watches.push_back(health->Watch(contexts.back().get(), request));
    if (i < 2) {
      ASSERT_TRUE(watches[i]->Read(&update));
      EXPECT_EQ(update.status(), HealthCheckResponse::SERVING);
    }
  }
  EXPECT_FALSE(watches[2]->Read(&update));
  grpc::Status refused = watches[2]->Finish();
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::UNIMPLEMENTED);
  EXPECT_THAT(refused.error_message(),
              HasSubstr("health Watch is not offered"));
  EXPECT_EQ(Check(channel_.get()), HealthCheckResponse::SERVING);

  for (int i = 0; i < 2; ++i) {
    contexts[i]->TryCancel();
    while (watches[i]->Read(&update)) {
    }
    watches[i]->Finish();
  }
}

// Reads a Watch stream until it reports `want`. The health protocol lets a
// server repeat the current status (gRPC's built-in service does when a status
// is set again), so repeats of `previous` are skipped; any other status, or
// the end of the stream, is a failure.
::testing::AssertionResult ReadUntil(
    grpc::ClientReaderInterface<HealthCheckResponse>* watch,
    HealthCheckResponse::ServingStatus previous,
    HealthCheckResponse::ServingStatus want) {
  HealthCheckResponse update;
  while (watch->Read(&update)) {
    if (update.status() == want) return ::testing::AssertionSuccess();
    if (update.status() != previous) {
      return ::testing::AssertionFailure()
             << "watch reported " << update.status() << ", expected " << want;
    }
  }
  return ::testing::AssertionFailure() << "watch ended before " << want;
}

// Health: NOT_SERVING while the model loads (calls get UNAVAILABLE), SERVING
// once warm, NOT_SERVING while draining (new calls get UNAVAILABLE, a stream
// in flight finishes), seen by Check and by one Watch stream throughout.
TEST_F(ServerRpcTest, HealthAcrossStartAndDrain) {
  TearDown();
  server_.reset();
  absl::Notification release_model;
  Server::Options options = TestServerOptions(&model_);
  ModelLoader load = options.load_model;
  options.load_model = [&, load] {
    release_model.WaitForNotification();
    return load();
  };
  absl::StatusOr<std::unique_ptr<Server>> started =
      Server::BuildAndStart(options);
  ASSERT_TRUE(started.ok()) << started.status();
  server_ = *std::move(started);
  channel_ = PlainChannel(server_->port());
  stub_ = v1::Stylizer::NewStub(channel_);

  auto health = Health::NewStub(channel_);
  grpc::ClientContext watch_context;
  HealthCheckRequest watch_request;
  watch_request.set_service("");
  auto watch = health->Watch(&watch_context, watch_request);
  HealthCheckResponse update;
  ASSERT_TRUE(watch->Read(&update));
  EXPECT_EQ(update.status(), HealthCheckResponse::NOT_SERVING);
  EXPECT_EQ(Check(channel_.get()), HealthCheckResponse::NOT_SERVING);
  {
    grpc::ClientContext context;
    v1::ModelInfo info;
    grpc::Status status = stub_->GetModelInfo(&context, {}, &info);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE);
    EXPECT_THAT(status.error_message(), HasSubstr("loading"));
  }

  release_model.Notify();
  ASSERT_TRUE(server_->WaitUntilReady().ok());
  EXPECT_TRUE(ReadUntil(watch.get(), HealthCheckResponse::NOT_SERVING,
                        HealthCheckResponse::SERVING));
  EXPECT_EQ(Check(channel_.get()), HealthCheckResponse::SERVING);

  // A stream in flight when the drain starts.
  grpc::ClientContext stream_context;
  std::unique_ptr<FramesStream> stream = stub_->StylizeFrames(&stream_context);
  v1::StylizeFramesRequest request;
  *request.mutable_image() = RawImage(TestFrame(kW, kH, 0));
  ASSERT_TRUE(stream->Write(request));
  v1::StylizeFramesResponse response;
  ASSERT_TRUE(stream->Read(&response));

  std::thread drain([&] { server_->Drain(absl::Seconds(60)); });
  EXPECT_TRUE(ReadUntil(watch.get(), HealthCheckResponse::SERVING,
                        HealthCheckResponse::NOT_SERVING));
  EXPECT_EQ(Check(channel_.get()), HealthCheckResponse::NOT_SERVING);
  {
    grpc::ClientContext context;
    v1::StylizeImageRequest image;
    *image.mutable_image() = RawImage(TestFrame(kW, kH, 0));
    v1::StylizeImageResponse out;
    grpc::Status status = stub_->StylizeImage(&context, image, &out);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE);
    EXPECT_THAT(status.error_message(), HasSubstr("shutting down"));
  }
  // The stream in flight still works, then ends normally.
  request.set_sequence(1);
  ASSERT_TRUE(stream->Write(request));
  ASSERT_TRUE(stream->Read(&response));
  EXPECT_EQ(response.sequence(), 1u);
  stream->WritesDone();
  EXPECT_TRUE(stream->Finish().ok());
  drain.join();  // ends without waiting for the 60 s timeout
  watch_context.TryCancel();
  while (watch->Read(&update)) {
  }
  watch->Finish();
}

}  // namespace
}  // namespace stylizer::testing
