// Test helpers for the server; see server_test_util.h.
#include "tests/server/server_test_util.h"

#include <cstdlib>
#include <thread>

#include "absl/strings/str_cat.h"
#include "grpcpp/create_channel.h"
#include "server/model/torch_model.h"
#include "server/service/image_codec.h"

namespace stylizer::testing {
namespace {

// Serialises calls on the shared model across the servers of one test.
class SharedModelRef : public StyleModel {
 public:
  explicit SharedModelRef(std::unique_ptr<StyleModel> model)
      : model_(std::move(model)) {}
  const ModelDescription& description() const override {
    return model_->description();
  }
  absl::Status Stylize(const FrameBatch& batch) override {
    absl::MutexLock lock(&mu_);
    return model_->Stylize(batch);
  }

 private:
  std::unique_ptr<StyleModel> model_;
  absl::Mutex mu_;
};

// Forwards to a model owned elsewhere.
class BorrowedModel : public StyleModel {
 public:
  explicit BorrowedModel(StyleModel* model) : model_(model) {}
  const ModelDescription& description() const override {
    return model_->description();
  }
  absl::Status Stylize(const FrameBatch& batch) override {
    return model_->Stylize(batch);
  }

 private:
  StyleModel* const model_;
};

}  // namespace

StyleModel* SharedRandomModel() {
  static StyleModel* const model = [] {
    const char* build_dir = std::getenv("STYLIZER_BUILD_DIR");
    TorchModelOptions options;
    options.archive_path =
        absl::StrCat(build_dir ? build_dir : "build", "/testdata/random4.pt");
    options.device = "cpu";
    options.precision = "fp32";
    options.threads = 1;
    options.warmup_side = 16;
    options.log = [](absl::string_view) {};
    absl::StatusOr<std::unique_ptr<TorchModel>> loaded =
        TorchModel::Create(options);
    if (!loaded.ok()) {
      fprintf(stderr, "cannot load %s: %s\n", options.archive_path.c_str(),
              loaded.status().ToString().c_str());
      std::abort();
    }
    return new SharedModelRef(*std::move(loaded));
  }();
  return model;
}

absl::Status ControlledModel::Stylize(const FrameBatch& batch) {
  {
    absl::MutexLock lock(&mu_);
    ++batches_;
    ++held_;
    mu_.Await(absl::Condition(
        +[](bool* hold) { return !*hold; }, &hold_));
    --held_;
    if (batch.width == fail_width_) {
      return absl::InternalError("injected model failure");
    }
  }
  return base_->Stylize(batch);
}

void ControlledModel::Hold() {
  absl::MutexLock lock(&mu_);
  hold_ = true;
}

void ControlledModel::Release() {
  absl::MutexLock lock(&mu_);
  hold_ = false;
}

void ControlledModel::FailWidth(int width) {
  absl::MutexLock lock(&mu_);
  fail_width_ = width;
}

bool ControlledModel::AwaitHeldBatch() {
  absl::MutexLock lock(&mu_);
  return mu_.AwaitWithTimeout(absl::Condition(
                                  +[](int* held) { return *held > 0; }, &held_),
                              absl::Minutes(1));
}

int ControlledModel::batches() const {
  absl::MutexLock lock(&mu_);
  return batches_;
}

Server::Options TestServerOptions(StyleModel* model) {
  Server::Options o;
  o.host = "127.0.0.1";
  o.port = 0;
  o.load_model = [model]() -> absl::StatusOr<std::unique_ptr<StyleModel>> {
    return std::unique_ptr<StyleModel>(new BorrowedModel(model));
  };
  o.queue.max_batch_size = 4;
  o.queue.batch_timeout = absl::Milliseconds(2);
  o.queue.max_queued_items = 64;
  o.queue.max_frames_in_flight_per_job = 4;
  o.work_threads = 2;
  o.max_receive_message_bytes = 4 << 20;
  o.limits.max_frame_pixels = 640 * 480;
  o.limits.max_concurrent_streams = 32;
  return o;
}

std::shared_ptr<grpc::Channel> PlainChannel(int port) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(64 << 20);
  // A fresh connection per channel (no sharing between test servers).
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  return grpc::CreateCustomChannel(absl::StrCat("127.0.0.1:", port),
                                   grpc::InsecureChannelCredentials(), args);
}

std::unique_ptr<v1::Stylizer::Stub> PlainStub(int port) {
  return v1::Stylizer::NewStub(PlainChannel(port));
}

RgbFrame TestFrame(int width, int height, int seed) {
  RgbFrame f;
  f.width = width;
  f.height = height;
  f.pixels.resize(static_cast<size_t>(width) * height * 3);
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      uint8_t* p = &f.pixels[(static_cast<size_t>(y) * width + x) * 3];
      p[0] = static_cast<uint8_t>(x * 4 + seed * 37);
      p[1] = static_cast<uint8_t>(y * 5 + seed * 11);
      p[2] = static_cast<uint8_t>((x ^ y) * 3 + seed);
    }
  }
  return f;
}

v1::Image RawImage(const RgbFrame& frame) {
  v1::Image image;
  EncodeImage(frame, v1::IMAGE_FORMAT_RAW, &image).IgnoreError();
  return image;
}

v1::Image PngImage(const RgbFrame& frame) {
  v1::Image image;
  EncodeImage(frame, v1::IMAGE_FORMAT_PNG, &image).IgnoreError();
  return image;
}

v1::Image JpegImage(const RgbFrame& frame) {
  v1::Image image;
  EncodeImage(frame, v1::IMAGE_FORMAT_JPEG, &image).IgnoreError();
  return image;
}

absl::StatusOr<RgbFrame> Decode(const v1::Image& image) {
  return DecodeImage(image, 1ull << 40);
}

bool WaitFor(const std::function<bool()>& condition, absl::Duration timeout) {
  const absl::Time end = absl::Now() + timeout;
  while (absl::Now() < end) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return condition();
}

}  // namespace stylizer::testing
