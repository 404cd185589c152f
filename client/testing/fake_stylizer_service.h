// A fake stylizer.v1.Stylizer server for the client's unit tests: a real gRPC
// server on a loopback port whose "stylization" echoes its input (so a movie
// comes back as playable copies, one per style), with knobs to inject
// failures (UNAVAILABLE or a busy refusal for the next N calls, an error
// midway through a job).
#ifndef STYLIZER_CLIENT_TESTING_FAKE_STYLIZER_SERVICE_H_
#define STYLIZER_CLIENT_TESTING_FAKE_STYLIZER_SERVICE_H_

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include <grpcpp/server.h>

#include "absl/synchronization/mutex.h"
#include "stylizer/v1/stylizer.grpc.pb.h"

namespace stylizer::client::testing {

class FakeStylizerService final : public stylizer::v1::Stylizer::Service {
 public:
  // Style names of the fake model (indices 0..n-1).
  std::vector<std::string> style_names = {"klimt", "mosaic", "outcry",
                                          "picasso"};
  // The next this-many calls fail with UNAVAILABLE before any output.
  std::atomic<int> fail_unavailable{0};
  // The next this-many StylizeImage and StylizeVideo calls are refused as a
  // busy server refuses them: RESOURCE_EXHAUSTED with a retry hint of
  // busy_hint_ms.
  std::atomic<int> fail_busy{0};
  std::atomic<int> busy_hint_ms{10};
  // The next this-many StylizeVideo calls read the whole upload, then are
  // refused as busy (before any output), as a server whose memory ran short
  // while the upload arrived.
  std::atomic<int> fail_busy_after_upload{0};
  // If > 0, a video job is refused (INVALID_ARGUMENT) as soon as this many
  // upload bytes have come, without waiting for the rest.
  std::atomic<int> refuse_video_after_bytes{0};
  // Upload bytes of StylizeVideo calls received so far, all calls together.
  std::atomic<int64_t> upload_bytes{0};
  // If > 0, a video job fails with INTERNAL after sending this many chunks.
  std::atomic<int> fail_after_chunks{0};
  // If > 0, a frame stream ends with UNAVAILABLE ("draining") as soon as it
  // has answered this many frames, without waiting for the next one.
  std::atomic<int> end_frames_after{0};
  // If > 0, a frame stream ends OK as soon as it has answered this many
  // frames, as no real server does (it answers every frame first).
  std::atomic<int> end_frames_ok_after{0};
  // Each frame of a frame stream is answered this many times (a buggy
  // server's answers for frames never sent).
  std::atomic<int> answers_per_frame{1};
  // If set, a raw frame is answered with its width and height swapped: the
  // same bytes, another picture.
  std::atomic<bool> transpose_frames{false};
  // How a video job's summary goes wrong, as a buggy server's could: 1 lists
  // no outputs, 2 gives each 0 bytes, 3 sends one more chunk after it.
  std::atomic<int> bad_summary{0};
  // If set, each output of a video job is the input with its first bytes
  // replaced by kNotAMovie (the same size): what a broken server, or one
  // that is not a stylizer server, may send.
  std::atomic<bool> serve_not_a_movie{false};
  static constexpr char kNotAMovie[] = "<!DOCTYPE html>";
  // If set, a video job's JobAccepted is sent twice, as no real server
  // sends it.
  std::atomic<bool> accept_twice{false};
  // The damaged packets a video job's summary says were skipped.
  std::atomic<uint64_t> skipped_packets{0};
  // The frame count a video job's acceptance and progress announce.
  std::atomic<uint64_t> frames_estimate{10};
  // If set, output i of an image or movie ends with the bytes TagOf(i), and
  // the outputs come last first: tests can tell which output a file holds
  // (they were all the same bytes, so a file under another style's name
  // went unseen).
  std::atomic<bool> tag_outputs{false};
  static std::string TagOf(int output_index);
  // If > 0, each StylizeVideo call waits this long before reading its job.
  std::atomic<int> video_delay_ms{0};
  // The model archive digests the StylizeVideo calls' JobAccepted name, one
  // per accepted call in turn (the last one repeats); empty: none named.
  // Set before the calls.
  std::vector<std::string> archive_sha256s;
  std::atomic<int> video_jobs_accepted{0};
  // Calls received, of any method, and of StylizeVideo.
  std::atomic<int> calls{0};
  std::atomic<int> video_calls{0};

  // The styles of the last StylizeImage or StylizeVideo request.
  std::vector<stylizer::v1::Style> last_styles() const;
  // The preserve_color of the last StylizeImage or StylizeVideo request.
  bool last_preserve_color() const;
  // The x-request-id metadata of the last StylizeImage call ("" if none).
  std::string last_request_id() const;

  grpc::Status GetModelInfo(grpc::ServerContext* context,
                            const stylizer::v1::GetModelInfoRequest* request,
                            stylizer::v1::ModelInfo* response) override;
  grpc::Status StylizeImage(grpc::ServerContext* context,
                            const stylizer::v1::StylizeImageRequest* request,
                            stylizer::v1::StylizeImageResponse* response) override;
  grpc::Status StylizeFrames(
      grpc::ServerContext* context,
      grpc::ServerReaderWriter<stylizer::v1::StylizeFramesResponse,
                               stylizer::v1::StylizeFramesRequest>* stream)
      override;
  grpc::Status StylizeVideo(
      grpc::ServerContext* context,
      grpc::ServerReaderWriter<stylizer::v1::StylizeVideoResponse,
                               stylizer::v1::StylizeVideoRequest>* stream)
      override;

 private:
  bool TakeUnavailable();
  bool TakeBusy();
  mutable absl::Mutex mu_;
  std::vector<stylizer::v1::Style> last_styles_ ABSL_GUARDED_BY(mu_);
  bool last_preserve_color_ ABSL_GUARDED_BY(mu_) = false;
  std::string last_request_id_ ABSL_GUARDED_BY(mu_);
};

// The fake service on 127.0.0.1:<free port>, with the standard health service
// answering SERVING.
class FakeServer {
 public:
  FakeServer();
  ~FakeServer();
  // "127.0.0.1:<port>".
  const std::string& address() const { return address_; }
  FakeStylizerService& service() { return service_; }
  // Sets the health status of the whole server.
  void SetServing(bool serving);

 private:
  FakeStylizerService service_;
  std::unique_ptr<grpc::Server> server_;
  std::string address_;
};

}  // namespace stylizer::client::testing

#endif  // STYLIZER_CLIENT_TESTING_FAKE_STYLIZER_SERVICE_H_
