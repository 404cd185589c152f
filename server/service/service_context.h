// ServiceContext: what every RPC handler of the Stylizer service shares (the
// still-image call, the frame-stream reactor and the video reactor): the loaded
// model's description, the job queue, the limits, the CPU pool for image
// coding, the auth check, metrics and the serving state. One instance
// per server; it outlives every call.
#ifndef STYLIZER_SERVER_SERVICE_SERVICE_CONTEXT_H_
#define STYLIZER_SERVER_SERVICE_SERVICE_CONTEXT_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "google/protobuf/repeated_field.h"
#include "grpcpp/server_context.h"
#include "grpcpp/support/status.h"
#include "server/batching/job_queue.h"
#include "server/model/style_model.h"
#include "server/service/idle_timer.h"
#include "server/service/memory_budget.h"
#include "server/service/style_resolution.h"
#include "stylizer/v1/stylizer.pb.h"

namespace stylizer {

class Metrics;
class TokenAuth;
class WorkPool;

// Limits every RPC enforces. Defaults match the server's flags.
struct ServiceLimits {
  // Largest frame (width x height) accepted: DCI 4K (4096x2160), so a UHD
  // 3840x2160 frame fits. Checked from the image header before decoding.
  uint64_t max_frame_pixels = 4096ull * 2160ull;
  // Most outputs (styles) one image or frame may ask for.
  int max_styles_per_request = 64;
  // Most StylizeFrames + StylizeVideo calls open at once; more get
  // RESOURCE_EXHAUSTED.
  int max_concurrent_streams = 64;
  // Frames a StylizeFrames stream may have read but not yet written back;
  // the stream stops reading at this many (flow control towards the client).
  int max_frames_buffered_per_stream = 8;
  // A StylizeFrames or StylizeVideo call that sends nothing for this long
  // while the server waits to read, or takes none of the server's messages
  // for this long, ends with DEADLINE_EXCEEDED and frees its stream slot.
  // Time the server spends on the call's work never counts. Zero or
  // infinite: never.
  absl::Duration stream_idle_timeout = absl::Seconds(60);
  // A StylizeVideo upload that brings fewer bytes than this a second, over
  // each stream_idle_timeout of the server waiting for it, ends with
  // DEADLINE_EXCEEDED (upload_pace.h). 0: no floor.
  uint64_t upload_min_bytes_per_second = 32 * 1024;
  // Largest message the server sends (--max_send_message_bytes): one
  // image's or frame's outputs must fit in it (CheckOutputs).
  int64_t max_response_bytes = 512 << 20;
};

// Where the server is in its life.
enum class ServingState {
  kStarting,  // model loading or warming up: calls get UNAVAILABLE
  kServing,
  kDraining,  // shutting down: new calls get UNAVAILABLE
};

class ServiceContext {
 public:
  // `pool` must outlive the context; `auth` may be null (no token auth);
  // `metrics` may be null (RPCs are then only logged). With
  // `require_client_certificate`, calls must come over TLS with a client
  // certificate the server verified (mutual TLS). `memory_budget` may be
  // null (nothing is charged); it must outlive the context.
  ServiceContext(const ServiceLimits& limits, WorkPool* pool,
                 const TokenAuth* auth, Metrics* metrics,
                 bool require_client_certificate = false,
                 MemoryBudget* memory_budget = nullptr);

  // With mutual TLS: the client certificate names admitted (client_names.h);
  // empty admits every certificate the client CA signed. Call before the
  // server starts.
  void set_allowed_client_names(std::vector<std::string> names) {
    allowed_client_names_ = std::move(names);
  }

  ServiceContext(const ServiceContext&) = delete;
  ServiceContext& operator=(const ServiceContext&) = delete;

  // Publishes the loaded model and its queue (whose batches hold at most
  // `max_batch_size` items) and moves to kServing. Both must outlive every
  // call (the server drains calls before destroying them).
  void SetServing(const ModelDescription* model, JobQueue* queue,
                  int max_batch_size);
  // Moves to kDraining: from now on Admit() refuses with UNAVAILABLE.
  void SetDraining();
  ServingState state() const { return state_.load(std::memory_order_acquire); }
  // Called when the drain's time has run out, before the calls still
  // running are cancelled: they end UNAVAILABLE (the server stopped them),
  // not as cancelled by their clients.
  void SetCancellingForDrain() {
    cancelling_for_drain_.store(true, std::memory_order_release);
  }
  bool cancelling_for_drain() const {
    return cancelling_for_drain_.load(std::memory_order_acquire);
  }

  // The first check of every Stylizer RPC: the caller's client certificate
  // (mutual TLS) and bearer token (when those are on), then the serving
  // state. Returns OK, UNAUTHENTICATED or UNAVAILABLE with a message for the
  // caller.
  grpc::Status Admit(const grpc::CallbackServerContext& context) const;
  // The bearer-token part of Admit, asked again by a stream at each message
  // it reads: a token that a reload of the token file removed ends the
  // streams opened with it (UNAUTHENTICATED), not only new calls.
  grpc::Status StillAuthorized(
      const grpc::CallbackServerContext& context) const;

  // Model and queue; valid (non-null) once Admit() has returned OK.
  const ModelDescription& model() const { return *model_; }
  int num_styles() const {
    return static_cast<int>(model_->style_names.size());
  }
  // Opens a job on the queue; UNAVAILABLE once the queue is draining or gone
  // (ReleaseQueue). A movie's decoder thread opens its job after the probe,
  // and may still be running when a drain that passed its deadline destroys
  // the queue.
  absl::StatusOr<std::unique_ptr<Job>> OpenJob(JobOptions options) const;
  // INVALID_ARGUMENT for a width x height picture in `styles` styles that no
  // wait can admit: outputs in `format` over the response limit
  // (CheckOutputs), or over one job's share of the queue
  // (JobQueue::CheckFrameFits; not asked once the queue is gone, when
  // OpenJob answers). Asked from the header, before reserving or decoding.
  absl::Status CheckPictureFits(v1::ImageFormat format, int width, int height,
                                int64_t styles) const;
  // Called before the queue is destroyed: OpenJob answers UNAVAILABLE from
  // then on, and no OpenJob is still running on it when this returns.
  void ReleaseQueue();
  int max_batch_size() const { return max_batch_size_; }

  const ServiceLimits& limits() const { return limits_; }
  // CPU pool for decoding and encoding images, off gRPC's and the queue's
  // threads.
  WorkPool* pool() const { return pool_; }
  // May be null (tests).
  Metrics* metrics() const { return metrics_; }
  // Reserves `bytes` in the server's memory budget for `what` (an empty
  // reservation when there is no budget); RESOURCE_EXHAUSTED past it, with a
  // retry hint unless `bytes` beside the `held_by_caller` bytes this call
  // already holds could never fit (MemoryBudget::Reserve).
  absl::StatusOr<MemoryBudget::Reservation> ReserveMemory(
      int64_t bytes, absl::string_view what, int64_t held_by_caller = 0) const;
  // The thread running every stream's idle timer (stream_idle_timeout).
  TimerThread* timers() const { return timers_.get(); }

  // Resolves a request's style list against the loaded model (see
  // style_resolution.h), with the per-request style limit.
  absl::StatusOr<ResolvedStyles> ResolveStyles(
      const google::protobuf::RepeatedPtrField<v1::Style>& styles) const;

  // A slot for one long-lived stream (StylizeFrames, StylizeVideo), counted
  // in stylizer_active_streams{method}; released when destroyed.
  class StreamSlot {
   public:
    ~StreamSlot();
    StreamSlot(const StreamSlot&) = delete;
    StreamSlot& operator=(const StreamSlot&) = delete;

   private:
    friend class ServiceContext;
    StreamSlot(ServiceContext* context, std::string method)
        : context_(context), method_(std::move(method)) {}
    ServiceContext* context_;
    std::string method_;
  };
  // Takes a stream slot for `method`, or RESOURCE_EXHAUSTED when
  // max_concurrent_streams are open.
  absl::StatusOr<std::unique_ptr<StreamSlot>> AcquireStreamSlot(
      absl::string_view method);
  // Streams open now.
  int active_streams() const;

  // Calls whose CallLog still exists (created at the start of every call,
  // destroyed after the reactor's OnDone).
  void CallStarted();
  void CallEnded();
  int active_calls() const;
  // Blocks until no call is active or `deadline` passes; true if idle.
  bool WaitUntilIdle(absl::Time deadline) const;

 private:
  const ServiceLimits limits_;
  WorkPool* const pool_;
  const TokenAuth* const auth_;
  Metrics* const metrics_;
  const bool require_client_certificate_;
  // Set before serving (set_allowed_client_names), then only read.
  std::vector<std::string> allowed_client_names_;
  MemoryBudget* const memory_budget_;
  const std::unique_ptr<TimerThread> timers_;

  std::atomic<ServingState> state_{ServingState::kStarting};
  std::atomic<bool> cancelling_for_drain_{false};
  // Written once by SetServing() before state_ becomes kServing (release),
  // read after Admit() saw kServing or kDraining (acquire).
  const ModelDescription* model_ = nullptr;
  int max_batch_size_ = 0;
  grpc::Status CheckToken(const grpc::CallbackServerContext& context) const;

  mutable absl::Mutex queue_mu_;
  JobQueue* queue_ ABSL_GUARDED_BY(queue_mu_) = nullptr;

  mutable absl::Mutex mu_;
  int active_streams_ ABSL_GUARDED_BY(mu_) = 0;
  int active_calls_ ABSL_GUARDED_BY(mu_) = 0;
};

// The call's deadline as an absl::Time (InfiniteFuture when it has none), for
// JobOptions::deadline.
absl::Time CallDeadline(const grpc::CallbackServerContext& context);

// What a streaming call that gRPC cancelled ends with (for OnCancel, and for
// a write that failed because the call had ended, which may come before
// OnCancel): UNAVAILABLE if `service` cancelled it for the end of a drain,
// DEADLINE_EXCEEDED once its deadline has passed, else CANCELLED with
// `message`.
grpc::Status CancelledCallStatus(
    const ServiceContext& service, const grpc::CallbackServerContext& context,
    absl::string_view message =
        "the call was cancelled: the client cancelled it, its connection "
        "broke, it sent a message over --max_receive_message_bytes, or gRPC "
        "reset the stream when its buffer quota (--grpc_memory_quota_bytes) "
        "was spent (the last two reach the client as RESOURCE_EXHAUSTED)");

// The slowest reader the idle timeout allows for: a message is given its
// size at this rate on top of --stream_idle_timeout to be taken, since gRPC
// reports a write done only once all of it has gone (8 styles of a 4K frame
// as raw RGB, 212 MB, take 68 s at 25 Mbit/s, and were cancelled at 60 s
// while their bytes flowed).
inline constexpr int64_t kSlowestReaderBytesPerSecond = 1 << 20;

// The time beyond the idle timeout a message of `bytes` is given.
inline absl::Duration TimeToSend(int64_t bytes) {
  return absl::Seconds(static_cast<double>(bytes) /
                       kSlowestReaderBytesPerSecond);
}

// What a stream ends with when its idle timer runs out: DEADLINE_EXCEEDED,
// saying whether the client sent nothing or took none of the answers
// (`stalled_write`) for `timeout`.
grpc::Status StreamIdleStatus(absl::Duration timeout, bool stalled_write);

}  // namespace stylizer

#endif  // STYLIZER_SERVER_SERVICE_SERVICE_CONTEXT_H_
