// The StylizeVideo bidi stream: a thin gRPC shell around media::VideoPipeline.
// The first message (a VideoJob) is checked and starts the pipeline; upload
// chunks go into the job's Spool, and the next read starts only when the
// spool wants more (so a slow decoder holds the client back through gRPC flow
// control). The pipeline's events become responses (JobAccepted, Progress,
// OutputChunk, JobSummary), written one at a time; while more than
// max_pending_output_bytes wait to be written, the pipeline's writer threads
// block (a slow reader pauses encoding, decoding and the upload).
// Cancellation, deadlines and errors end the pipeline at once, and so does a
// client that neither sends nor takes a message for stream_idle_timeout
// (DEADLINE_EXCEEDED; the idle timer runs while a write, or a read of an
// upload not yet complete, is out). An upload is complete at the client's
// half-close, or once the bytes the job's input_size announced have arrived.
#ifndef STYLIZER_SERVER_SERVICE_STYLIZE_VIDEO_REACTOR_H_
#define STYLIZER_SERVER_SERVICE_STYLIZE_VIDEO_REACTOR_H_

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "grpcpp/server_context.h"
#include "grpcpp/support/server_callback.h"
#include "server/media/disk_budget.h"
#include "server/media/spool.h"
#include "server/media/video_pipeline.h"
#include "server/media/video_sink.h"
#include "server/metrics/metrics.h"
#include "server/service/call_log.h"
#include "server/service/idle_timer.h"
#include "server/service/service_context.h"
#include "server/service/stylizer_service.h"
#include "server/service/upload_pace.h"
#include "stylizer/v1/stylizer.pb.h"

namespace stylizer {

// Server-wide settings of StylizeVideo calls (flags of stylizer-server).
struct StylizeVideoOptions {
  // Upload bytes kept in memory per job before spilling to an anonymous
  // temporary file. Default 16 MiB.
  size_t spool_memory_bytes = size_t{16} << 20;
  // Largest upload; bigger ones end with RESOURCE_EXHAUSTED. Default 8 GiB.
  uint64_t max_upload_bytes = uint64_t{8} << 30;
  // Directory of the spill files; empty = $TMPDIR or /tmp.
  std::string spool_dir;
  // What the spill files of every job may fill together (shared by the
  // calls); null: the free room of spool_dir's disk.
  std::shared_ptr<media::DiskBudget> spool_disk_budget;
  // Frames of one job in the queue at once. Default 8.
  int max_frames_in_flight = 8;
  // Stylized frames waiting for the slowest encoder. Default 8.
  int max_pending_frames = 8;
  // Most bytes of RGB frames in one job's window (input + S outputs per
  // frame); lowers the two frame limits above for big frames or many styles.
  // Default 512 MiB.
  int64_t max_window_bytes = int64_t{512} << 20;
  // Response bytes waiting to be written before the encoders pause.
  // Default 4 MiB.
  size_t max_pending_output_bytes = size_t{4} << 20;
  // x264 preset and threads per output (0 = the cores shared among the
  // job's outputs, 1 to 8 each). Defaults "veryfast", 0.
  std::string preset = "veryfast";
  int encoder_threads = 0;
  // The CPUs encoder_threads 0 shares out (0 = hardware_concurrency()).
  int cores = 0;
  // crf used when the job says 0. Default 20.
  int default_crf = 20;
  // Least time between Progress messages. Default 1 s.
  absl::Duration progress_interval = absl::Seconds(1);
};

// The factory StylizerService takes (Server::Options::video).
VideoReactorFactory MakeStylizeVideoReactorFactory(StylizeVideoOptions options);

class StylizeVideoReactor final : public VideoReactor,
                                  private media::VideoSink {
 public:
  // Starts the call (the service has already admitted it) or finishes it at
  // once when no stream slot is free. The reactor deletes itself, off gRPC's
  // threads, once gRPC is done with it; deleting waits for the pipeline.
  static RawBidiReactor* Start(ServiceContext* service,
                               grpc::CallbackServerContext* context,
                               const StylizeVideoOptions& options);

  void OnMessageRead(bool ok) override;
  void OnMalformedRead() override;
  void OnMessageWritten(bool ok) override;
  void OnCancel() override;
  void OnDone() override;

 private:
  StylizeVideoReactor(ServiceContext* service,
                      grpc::CallbackServerContext* context,
                      const StylizeVideoOptions& options);
  ~StylizeVideoReactor() override;

  // Handles the first message; returns the error that ends the call.
  grpc::Status StartJob(const v1::VideoJob& job);
  // The pipeline's options for `job`, whose styles resolved to
  // `style_weights`.
  media::VideoPipeline::Options PipelineOptions(
      const v1::VideoJob& job, std::vector<std::vector<float>> style_weights);
  // Reserves the job's fixed cost (see fixed_memory_); RESOURCE_EXHAUSTED
  // with the numbers when the budget cannot hold it now.
  absl::Status ReserveFixedMemory(uint64_t input_size, int outputs);
  // The pipeline's reserve_memory hook (on its thread).
  absl::Status ReserveFrameMemory(const media::VideoMemory& memory);
  // OnMessageRead when the reads have ended: the call was cancelled, or the
  // client half-closed and the upload is complete (if it has the bytes the
  // job's input_size announced).
  void EndUpload();
  // OnMessageRead's chunk after the VideoJob: counted against the job's
  // input_size, then posted to the work pool (AppendChunk).
  void StoreChunk();
  // Stores one upload chunk (on the work pool), then reads on.
  void AppendChunk(const std::string& chunk);
  // Reads the next message now, or once the spool wants more bytes.
  void ReadNextWhenWanted();
  void StartReadLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Idle timer: restart after client progress, or disarm; and its expiry.
  void ClientProgressedLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Whether the server waits on the client: a write it has not taken, or a
  // read of bytes the upload still owes.
  bool WaitingOnClientLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Every byte input_size announced has arrived: a read still out only
  // catches bytes past it (refused) or the half-close, and the client owes
  // nothing, so the idle timer does not wait on it.
  bool UploadCompleteLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void OnIdle() ABSL_LOCKS_EXCLUDED(mu_);

  // media::VideoSink (called on the pipeline's threads).
  void OnAccepted(const media::MovieInfo& info, int output_width,
                  int output_height) override;
  void OnProgress(const media::VideoProgress& progress) override;
  absl::Status OnOutputChunk(int output_index,
                             absl::string_view bytes) override;
  void OnFailing(const absl::Status& status) override;
  void OnFinished(absl::StatusOr<media::VideoSummary> result) override;

  void EnqueueLocked(v1::StylizeVideoResponse response)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void StartWriteIfIdleLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Ends the call with `status` (the first wins) and stops the pipeline.
  void Fail(const grpc::Status& status) ABSL_LOCKS_EXCLUDED(mu_);
  void MaybeFinishLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Reports the job (log line, metrics) and finishes the call.
  void FinishLocked(const grpc::Status& status)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  ServiceContext* const service_;
  grpc::CallbackServerContext* const context_;
  const StylizeVideoOptions options_;
  const std::string job_id_;
  const absl::Time start_;
  CallLog log_;
  std::unique_ptr<ServiceContext::StreamSlot> slot_;  // reset when finishing
  std::vector<uint32_t> output_indices_;

  // The read buffer; touched only by the read path (one read in flight).
  v1::StylizeVideoRequest request_;
  bool job_received_ = false;  // read path only

  // Declared before pipeline_: destroyed after it.
  std::unique_ptr<media::Spool> spool_;
  // The job's bytes in the memory budget: its fixed cost (spool memory and
  // responses waiting to be written), reserved when the VideoJob arrives,
  // and its frame window and encoders, reserved once the input is probed.
  // Given back when the reactor is deleted, after the pipeline has ended.
  // Set on the read path before the pipeline starts; the pipeline reads it.
  MemoryBudget::Reservation fixed_memory_;

  absl::Mutex mu_;
  std::unique_ptr<media::VideoPipeline> pipeline_ ABSL_GUARDED_BY(mu_);
  MemoryBudget::Reservation frame_memory_ ABSL_GUARDED_BY(mu_);
  std::deque<v1::StylizeVideoResponse> responses_ ABSL_GUARDED_BY(mu_);
  size_t queued_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  v1::StylizeVideoResponse writing_ ABSL_GUARDED_BY(mu_);
  bool write_in_flight_ ABSL_GUARDED_BY(mu_) = false;
  // A Progress message is waiting in responses_ (newer ones replace it).
  bool progress_queued_ ABSL_GUARDED_BY(mu_) = false;
  // The pipeline is failing: OnOutputChunk returns at once.
  bool pipeline_failing_ ABSL_GUARDED_BY(mu_) = false;
  bool summary_queued_ ABSL_GUARDED_BY(mu_) = false;
  std::optional<grpc::Status> failure_ ABSL_GUARDED_BY(mu_);
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  bool done_ ABSL_GUARDED_BY(mu_) = false;
  bool read_in_flight_ ABSL_GUARDED_BY(mu_) = false;
  // The job's input_size; 0 when the client did not know it. Written by the
  // read path, read by the idle timer too (UploadCompleteLocked).
  uint64_t declared_size_ ABSL_GUARDED_BY(mu_) = 0;
  // OnIdle is cancelling the call: Finish waits (see OnIdle).
  bool cancelling_ ABSL_GUARDED_BY(mu_) = false;
  // AppendChunk tasks posted and not finished; the last one deletes the
  // reactor if OnDone came meanwhile.
  int appends_in_flight_ ABSL_GUARDED_BY(mu_) = 0;
  // What the job's log line reports.
  VideoJobRecord record_ ABSL_GUARDED_BY(mu_);
  // Frames in every output: at the last progress report, or when Fail()
  // asked the pipeline.
  int64_t frames_done_ ABSL_GUARDED_BY(mu_) = 0;
  // The call's log has its frames (added once).
  bool frames_counted_ ABSL_GUARDED_BY(mu_) = false;
  int64_t bytes_in_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t bytes_out_ ABSL_GUARDED_BY(mu_) = 0;
  // When the outstanding read started, how long the last one waited for
  // its message, and the floor under the upload's speed.
  absl::Time read_started_ ABSL_GUARDED_BY(mu_);
  absl::Duration last_read_waited_ ABSL_GUARDED_BY(mu_);
  UploadPace pace_ ABSL_GUARDED_BY(mu_);

  // Armed while a read or write is outstanding; stopped in the destructor.
  IdleTimer idle_;
};

}  // namespace stylizer

#endif  // STYLIZER_SERVER_SERVICE_STYLIZE_VIDEO_REACTOR_H_
