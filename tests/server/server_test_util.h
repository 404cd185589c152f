// Helpers for the server's integration tests: the random test archive loaded
// once per process, model wrappers that hold or fail batches on command,
// in-process servers on a loopback port, and small test images.
#ifndef STYLIZER_TESTS_SERVER_SERVER_TEST_UTIL_H_
#define STYLIZER_TESTS_SERVER_SERVER_TEST_UTIL_H_

#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "grpcpp/channel.h"
#include "grpcpp/security/credentials.h"
#include "server/batching/job_queue.h"
#include "server/model/style_model.h"
#include "server/service/server.h"
#include "stylizer/v1/stylizer.grpc.pb.h"

namespace stylizer::testing {

// testdata/random4.pt (klimt, mosaic, outcry, picasso) on the CPU in fp32,
// loaded on first use and shared by every server of the test process.
StyleModel* SharedRandomModel();

// A StyleModel that forwards to another one, and on command holds every
// batch until released (to fill the queue deterministically) or fails batches
// of a given width (to provoke INTERNAL).
class ControlledModel : public StyleModel {
 public:
  explicit ControlledModel(StyleModel* base) : base_(base) {}

  const ModelDescription& description() const override {
    return base_->description();
  }
  absl::Status Stylize(const FrameBatch& batch) override;

  // Batches wait in Stylize() until Release().
  void Hold();
  void Release();
  // Batches of frames this wide fail with INTERNAL.
  void FailWidth(int width);
  // Waits until a batch is waiting in Stylize() (while held).
  // False if no batch is held within a minute (the test then fails instead
  // of hanging until CTest's timeout).
  [[nodiscard]] bool AwaitHeldBatch();
  // Batches run (or started) so far.
  int batches() const;

 private:
  StyleModel* const base_;
  mutable absl::Mutex mu_;
  bool hold_ ABSL_GUARDED_BY(mu_) = false;
  int held_ ABSL_GUARDED_BY(mu_) = 0;
  int fail_width_ ABSL_GUARDED_BY(mu_) = -1;
  int batches_ ABSL_GUARDED_BY(mu_) = 0;
};

// Options for an in-process server on 127.0.0.1 (free port) serving `model`
// (not owned; it must outlive the server), with small test limits.
Server::Options TestServerOptions(StyleModel* model);

// A stub on a plaintext channel to `port` on 127.0.0.1.
std::unique_ptr<v1::Stylizer::Stub> PlainStub(int port);
std::shared_ptr<grpc::Channel> PlainChannel(int port);

// A w x h RGB test picture (different per seed).
RgbFrame TestFrame(int width, int height, int seed);
// The same picture as a request image: raw, or encoded as PNG / JPEG.
v1::Image RawImage(const RgbFrame& frame);
v1::Image PngImage(const RgbFrame& frame);
v1::Image JpegImage(const RgbFrame& frame);

// Decodes a response image (PNG, JPEG or raw) for checking.
absl::StatusOr<RgbFrame> Decode(const v1::Image& image);

// Runs `condition` until true or `timeout` passes (wide margins only).
bool WaitFor(const std::function<bool()>& condition,
             absl::Duration timeout = absl::Seconds(30));

}  // namespace stylizer::testing

#endif  // STYLIZER_TESTS_SERVER_SERVER_TEST_UTIL_H_
