// The StylizeFrames bidi stream. One read and one write in flight at a time;
// decoding and encoding run on the work pool; frames enter the job queue with
// TrySubmit, and when it has no room the reactor waits for NotifyWhenRoom
// before submitting and reading again, so a fast sender is held back by gRPC
// flow control instead of growing server memory. Responses leave strictly in
// request order. Cancellation and the call deadline reach the queue. While
// the reactor waits on the client (a write outstanding, or a read with every
// frame answered), an idle timer runs: a client that neither sends a frame
// nor takes an answer for stream_idle_timeout ends the stream with
// DEADLINE_EXCEEDED. Time the server spends on the client's frames never
// counts.
#ifndef STYLIZER_SERVER_SERVICE_STYLIZE_FRAMES_REACTOR_H_
#define STYLIZER_SERVER_SERVICE_STYLIZE_FRAMES_REACTOR_H_

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "grpcpp/server_context.h"
#include "grpcpp/support/server_callback.h"
#include "server/batching/job_queue.h"
#include "server/service/call_log.h"
#include "server/service/idle_timer.h"
#include "server/service/parsing_reactor.h"
#include "server/service/service_context.h"
#include "stylizer/v1/stylizer.pb.h"

namespace stylizer {

class StylizeFramesReactor
    : public ParsingBidiReactor<v1::StylizeFramesRequest,
                                v1::StylizeFramesResponse> {
 public:
  // Starts the stream (or finishes it at once when refused). The reactor
  // deletes itself once gRPC is done with it and every task, result and
  // callback it started has ended.
  static RawBidiReactor* Start(ServiceContext* service,
                               grpc::CallbackServerContext* context);

  void OnMessageRead(bool ok) override;
  void OnMalformedRead() override;
  void OnMessageWritten(bool ok) override;
  void OnCancel() override;
  void OnDone() override;

 private:
  // What the response of one submitted frame needs.
  struct FrameMeta {
    uint64_t client_sequence = 0;
    std::vector<uint32_t> output_indices;
    v1::ImageFormat format = v1::IMAGE_FORMAT_UNSPECIFIED;
    // The decoded input when the frame asks for preserve_color, else null
    // (already counted in `memory`).
    std::shared_ptr<const RgbFrame> color_source;
    // The frame's input and outputs in the memory budget, held until its
    // response is written.
    MemoryBudget::Reservation memory;
  };

  StylizeFramesReactor(ServiceContext* service,
                       grpc::CallbackServerContext* context);
  ~StylizeFramesReactor() override;

  // Admission checks, stream slot and job; false if the call was finished.
  bool Open();

  // Work pool: decodes request_ into pending_ and submits it.
  void ProcessRequest();
  // Work pool: submits pending_, or waits for room.
  void TrySubmitPending();
  // Queue thread: one frame's result, in submission order.
  void OnResult(FrameResult result);
  // Work pool: encodes queued results one after the other (per-stream order).
  void EncodeResults();

  // Reserves request_'s bytes and hands it to the work pool. Where the
  // budget is busy and this stream's unanswered frames hold memory, waits
  // for their writes (request_waits_for_write_); fails the call otherwise.
  void AcceptRequestLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void StartReadIfRoomLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void StartWriteIfIdleLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Ends the stream with `status` (the first one wins), dropping unsent
  // responses and the job's queued work.
  void FailLocked(const grpc::Status& status)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Calls Finish once the stream is complete or failed and no write is out.
  void MaybeFinishLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Whether the next move is the client's: a write it has not taken, or a
  // read while no frame of it is being worked on.
  bool WaitingOnClientLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // After a read or write completed: the idle clock restarts while the
  // reactor still waits on the client, and stops when it does not.
  void ClientProgressedLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Timer thread: the client did nothing for stream_idle_timeout.
  void OnIdle() ABSL_LOCKS_EXCLUDED(mu_);

  void Ref() { refs_.fetch_add(1, std::memory_order_relaxed); }
  void Unref();

  ServiceContext* const service_;
  grpc::CallbackServerContext* const context_;
  CallLog log_;
  std::unique_ptr<ServiceContext::StreamSlot> slot_;  // reset when finishing
  std::unique_ptr<Job> job_;  // set in Open(), then only used

  // gRPC's reference (dropped in OnDone) plus one per pool task, pending
  // NotifyWhenRoom callback and submitted-but-unprocessed frame.
  std::atomic<int> refs_{1};

  // The read buffer; touched only by the read path (one read in flight).
  v1::StylizeFramesRequest request_;
  // request_'s bytes in the memory budget, from its read until its picture
  // is decoded (gRPC's buffer quota stops counting them once parsed).
  MemoryBudget::Reservation request_memory_;
  // Styles of the previous frame (the first frame: every style).
  std::optional<ResolvedStyles> styles_;
  // Decoded frame waiting for room in the queue.
  FrameRequest pending_;
  FrameMeta pending_meta_;
  uint64_t next_sequence_ = 0;

  // The results path has a lock of its own: the queue's one delivery
  // thread, which serves every caller, calls OnResult, and mu_ is held
  // while StartWrite serializes an answer (a raw 4K frame in 8 styles is
  // 200 MB). Never held together with mu_.
  absl::Mutex results_mu_;
  std::deque<FrameMeta> submitted_ ABSL_GUARDED_BY(results_mu_);
  std::deque<FrameResult> results_ ABSL_GUARDED_BY(results_mu_);
  bool encoding_ ABSL_GUARDED_BY(results_mu_) = false;

  absl::Mutex mu_;
  std::deque<v1::StylizeFramesResponse> responses_ ABSL_GUARDED_BY(mu_);
  // The reservations of responses_ (same order) and of the answer being
  // written (its serialized bytes, in the write buffer).
  std::deque<MemoryBudget::Reservation> response_memory_ ABSL_GUARDED_BY(mu_);
  MemoryBudget::Reservation writing_memory_ ABSL_GUARDED_BY(mu_);
  // The payload bytes of responses_ (same order) and of the answer being
  // written: counted as sent once its write completes (they were counted
  // when encoded, with answers the client never got).
  std::deque<int64_t> response_bytes_ ABSL_GUARDED_BY(mu_);
  int64_t writing_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  // The time a slow reader needs for the answer being written (TimeToSend).
  absl::Duration writing_extra_ ABSL_GUARDED_BY(mu_);
  bool write_in_flight_ ABSL_GUARDED_BY(mu_) = false;
  bool read_in_flight_ ABSL_GUARDED_BY(mu_) = false;
  // OnIdle is cancelling the call: Finish waits (the context lives only
  // until OnDone, which Finish lets come).
  bool cancelling_ ABSL_GUARDED_BY(mu_) = false;
  // Frames read and accepted but not yet written back.
  int unanswered_ ABSL_GUARDED_BY(mu_) = 0;
  // The next read waits for a write (too many frames unanswered).
  bool read_waits_for_write_ ABSL_GUARDED_BY(mu_) = false;
  // The message read waits for a write to give back the memory that its
  // bytes need.
  bool request_waits_for_write_ ABSL_GUARDED_BY(mu_) = false;
  // The frame read waits for a write: the memory budget could not hold it
  // beside this stream's own unanswered frames, which give theirs back as
  // they are written.
  bool frame_waits_for_write_ ABSL_GUARDED_BY(mu_) = false;
  // request_'s bytes were counted (a frame that waited is processed again).
  bool request_counted_ = false;
  bool reads_done_ ABSL_GUARDED_BY(mu_) = false;
  // Messages read so far (for the error of a damaged one).
  int64_t messages_read_ ABSL_GUARDED_BY(mu_) = 0;
  std::optional<grpc::Status> failure_ ABSL_GUARDED_BY(mu_);
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  // Finished OK: logged in OnDone, once gRPC says whether the client got it.
  bool finished_ok_ ABSL_GUARDED_BY(mu_) = false;

  // Armed while a read or write is outstanding; stopped in the destructor.
  IdleTimer idle_;
};

}  // namespace stylizer

#endif  // STYLIZER_SERVER_SERVICE_STYLIZE_FRAMES_REACTOR_H_
