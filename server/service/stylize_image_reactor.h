// The StylizeImage call: decodes one image on the work pool, submits it with
// all its styles as one FrameRequest (so the styles batch together), and
// encodes the outputs in parallel on the work pool when the queue delivers.
// Never blocks a gRPC thread or a queue thread.
#ifndef STYLIZER_SERVER_SERVICE_STYLIZE_IMAGE_REACTOR_H_
#define STYLIZER_SERVER_SERVICE_STYLIZE_IMAGE_REACTOR_H_

#include <atomic>
#include <memory>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "grpcpp/server_context.h"
#include "grpcpp/support/byte_buffer.h"
#include "grpcpp/support/server_callback.h"
#include "server/batching/job_queue.h"
#include "server/service/call_log.h"
#include "server/service/idle_timer.h"
#include "server/service/service_context.h"
#include "stylizer/v1/stylizer.pb.h"

namespace stylizer {

class StylizeImageReactor : public grpc::ServerUnaryReactor {
 public:
  // Starts the call. The reactor deletes itself once gRPC is done with it and
  // every task it started has ended.
  // The method is registered raw: `request` is parsed here (bytes that are
  // not a StylizeImageRequest fail the call with INVALID_ARGUMENT, where
  // gRPC's typed method answered UNIMPLEMENTED with no message), and the
  // answer is serialized into `response`.
  static grpc::ServerUnaryReactor* Start(ServiceContext* service,
                                         grpc::CallbackServerContext* context,
                                         const grpc::ByteBuffer* request,
                                         grpc::ByteBuffer* response);

  void OnCancel() override;
  void OnDone() override;

 private:
  StylizeImageReactor(ServiceContext* service,
                      grpc::CallbackServerContext* context,
                      grpc::ByteBuffer* response);
  ~StylizeImageReactor() override = default;

  // Work-pool steps.
  void DecodeAndSubmit();
  // Reserves the decoded input and the outputs of `styles` styles in the
  // memory budget, sized from the image's header; sets memory_. Refuses
  // first what no wait can fix: an image over the pixel limit (naming the
  // max_side that fits), one that max_side makes too thin, outputs too
  // large to send. Leaves images whose size cannot be read, or that are
  // over the decode limit, to DecodeImage, which refuses them.
  absl::Status ReserveMemory(size_t styles);
  // The most pixels an image may have: the frame limit, or with max_side
  // (the picture scaled down after decoding) the larger of that and
  // kMaxImagePixelsToScale.
  uint64_t DecodeLimit() const;
  void EncodeOutput(int i);

  // Queue thread: the frame's outputs (or why there are none).
  void OnResult(FrameResult result);

  // Whether the call ended on the client's side (cancelled, or past its
  // deadline); notes cancel_status_ if OnCancel has not yet.
  bool CallEnded() ABSL_LOCKS_EXCLUDED(mu_);
  void FinishOnce(const grpc::Status& status) ABSL_LOCKS_EXCLUDED(mu_);
  void Ref() { refs_.fetch_add(1, std::memory_order_relaxed); }
  void Unref();

  ServiceContext* const service_;
  grpc::CallbackServerContext* const context_;
  v1::StylizeImageRequest request_;    // parsed in Start
  v1::StylizeImageResponse response_;  // serialized by FinishOnce
  grpc::ByteBuffer* const raw_response_;
  CallLog log_;

  // gRPC's reference (dropped in OnDone) plus one per pending task or result.
  std::atomic<int> refs_{1};

  // The call's bytes in the memory budget, given back when the reactor is
  // deleted (the response has been sent or the call has ended): the request
  // message, and what DecodeAndSubmit reserves.
  MemoryBudget::Reservation request_memory_;
  MemoryBudget::Reservation memory_;

  // Armed when the response is handed to gRPC: a client that does not take
  // it (an HTTP/2 window of 0) within --stream_idle_timeout is cancelled,
  // so that its reservation comes back. Stopped in OnDone.
  IdleTimer unsent_;
  std::atomic<bool> unsent_expired_{false};

  // What the call finished with (FinishOnce), and for an answer the bytes
  // and images it carries. They are logged and counted in OnDone, when gRPC
  // says whether the answer reached the client: an answer a client never
  // took was counted OK, with its bytes as sent.
  grpc::Status final_status_;
  int64_t answer_bytes_ = 0;
  int answer_images_ = 0;

  absl::Mutex mu_;
  std::unique_ptr<Job> job_ ABSL_GUARDED_BY(mu_);
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  // Why (CancelledCallStatus), for the log and metrics: the job's result
  // only says CANCELLED.
  grpc::Status cancel_status_ ABSL_GUARDED_BY(mu_);
  bool finished_ ABSL_GUARDED_BY(mu_) = false;

  // Set by DecodeAndSubmit, read by the encode tasks.
  std::vector<uint32_t> output_indices_;
  v1::ImageFormat format_ = v1::IMAGE_FORMAT_UNSPECIFIED;
  // The decoded input when the request asks for preserve_color, else null.
  std::shared_ptr<const RgbFrame> color_source_;
  FrameResult result_;
  std::atomic<int> encodes_left_{0};
  absl::Mutex error_mu_;
  absl::Status encode_error_ ABSL_GUARDED_BY(error_mu_);
};

}  // namespace stylizer

#endif  // STYLIZER_SERVER_SERVICE_STYLIZE_IMAGE_REACTOR_H_
