// The fixture of the Server tests (server_*_test.cc) and what more than one
// of them uses: a server on a loopback port with the copying model, frames
// to send it, a model that waits while it is held, and metrics shared by the
// servers of a test process. No LibTorch.
#ifndef STYLIZER_SERVER_SERVICE_TESTING_SERVER_TEST_FIXTURE_H_
#define STYLIZER_SERVER_SERVICE_TESTING_SERVER_TEST_FIXTURE_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "grpcpp/client_context.h"
#include "gtest/gtest.h"
#include "server/metrics/metrics.h"
#include "server/service/image_codec.h"
#include "server/service/server.h"
#include "server/service/testing/copy_model.h"
#include "server/service/testing/loopback_server.h"
#include "stylizer/v1/stylizer.grpc.pb.h"

namespace stylizer::testing {

// A `w` x `h` frame whose pixels differ with `seed`.
inline RgbFrame Frame(int w, int h, int seed) {
  RgbFrame f;
  f.width = w;
  f.height = h;
  f.pixels.resize(static_cast<size_t>(w) * h * 3);
  for (size_t i = 0; i < f.pixels.size(); ++i) {
    f.pixels[i] = static_cast<uint8_t>(i * 13 + seed * 101);
  }
  return f;
}

// `f` as a raw image.
inline v1::Image Raw(const RgbFrame& f) {
  v1::Image image;
  EXPECT_TRUE(EncodeImage(f, v1::IMAGE_FORMAT_RAW, &image).ok());
  return image;
}

// A started, ready server with the copying model (3 frames in flight per
// job unless Configure changes it) and a stub to call it; drained at the end.
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

// A 2 MB memory budget of which gRPC's share is 600000 bytes (the queue gets
// the 1400000 left), with messages up to 300000 bytes.
class MemoryBudgetServerTest : public ServerTest {
 protected:
  void Configure(Server::Options* o) override {
    o->memory_budget_bytes = 2000000;
    o->max_receive_message_bytes = 300000;
    o->grpc_memory_quota_bytes = 600000;
  }
};

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
inline Metrics* TestMetrics() {
  static Metrics* metrics = [] {
    Metrics::Options options;
    options.port = -1;
    return Metrics::Create(options).value().release();
  }();
  return metrics;
}

// The value of one sample of the shared metrics ("name{labels}"), 0 if
// absent.
inline double MetricValue(const std::string& sample) {
  const std::string scraped = TestMetrics()->Scrape();
  const size_t at = scraped.find("\n" + sample + " ");
  if (at == std::string::npos) return 0;
  return std::stod(scraped.substr(at + sample.size() + 2));
}

}  // namespace stylizer::testing

#endif  // STYLIZER_SERVER_SERVICE_TESTING_SERVER_TEST_FIXTURE_H_
