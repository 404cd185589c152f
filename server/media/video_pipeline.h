// The gRPC-free body of one StylizeVideo job. Given the upload's Spool and
// the job's resolved style rows, it runs on threads of its own:
//
//   decoder thread: Spool -> MovieReader (demux + decode) -> RgbConverter
//                   -> Job::Submit (blocks while the job's frames in flight
//                   are at the limit) ; audio packets pass straight through
//   job queue:      results arrive in order via on_result into the window
//   writer threads: one per output, in input order: MovieWriter (x264 +
//                   muxer) -> VideoSink::OnOutputChunk (may block)
//
// The window is the ordered list of frames and audio packets between the
// decoder and the slowest writer; it holds at most max_frames_in_flight +
// max_pending_frames frames, so a slow client blocks the writers, which stop
// draining the window, which stops the decoder, which stops reading the spool,
// which tells the reactor to stop reading the upload. A job's memory is
// therefore bounded, however long the movie.
#ifndef STYLIZER_SERVER_MEDIA_VIDEO_PIPELINE_H_
#define STYLIZER_SERVER_MEDIA_VIDEO_PIPELINE_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/batching/job_queue.h"
#include "server/media/movie_reader.h"
#include "server/media/movie_writer.h"
#include "server/media/spool.h"
#include "server/media/video_sink.h"

namespace stylizer {
namespace media {

class RgbConverter;

// What a job will hold once its frame size is known, for the server's memory
// budget: the window's RGB frames and the encoders' estimated working memory.
struct VideoMemory {
  int width = 0;  // stylized frames
  int height = 0;
  int outputs = 0;
  int window_frames = 0;
  int64_t window_bytes = 0;   // window_frames x (input + outputs), plus the
                              // frame being decoded
  int64_t encoder_bytes = 0;  // all outputs' encoders and muxers together
  int input_width = 0;        // decoded frames, as stored
  int input_height = 0;
  int64_t decoder_bytes = 0;  // the decoder's frames, at the input's size
  int64_t total() const { return window_bytes + encoder_bytes + decoder_bytes; }
};

class VideoPipeline {
 public:
  // Opens the job-queue job for the movie (JobQueue::OpenJob, or a fake).
  using OpenJobFn =
      std::function<absl::StatusOr<std::unique_ptr<Job>>(JobOptions)>;

  struct Options {
    // One style-weight row per output, already validated; output i gets
    // row i. Required, at least one.
    std::vector<std::vector<float>> style_weights;
    // Opens the job. Required.
    OpenJobFn open_job;
    // Longer side of the stylized frames at most this (0 = input size).
    int max_side = 0;
    // Largest stylized frame in pixels (0 = no limit); bigger inputs fail
    // with INVALID_ARGUMENT suggesting a max_side.
    int64_t max_frame_pixels = 0;
    // Output container, encoder settings (see MovieWriter::Options).
    OutputContainer container = OutputContainer::kFragmentedMp4;
    int crf = 20;
    std::string preset = "veryfast";
    // Threads per output's encoder; 0 (default) = the machine's cores shared
    // among the outputs: cores / outputs, between 1 and 8 (x264's own choice
    // would give every encoder 1.5 x cores threads).
    int encoder_threads = 0;
    // The cores encoder_threads 0 shares out; 0 = hardware_concurrency().
    // The server passes the CPUs its cgroup quota allows (cpu_limit.h).
    int cores = 0;
    // Leave the audio out of the outputs.
    bool drop_audio = false;
    // Keep the input's colours: each output frame takes only the stylized
    // luminance (see preserve_color.h), done by the output's writer thread.
    bool preserve_color = false;
    // Frames submitted to the job and not yet returned. Default 8.
    int max_frames_in_flight = 8;
    // Stylized frames waiting for the slowest encoder. Default 8.
    int max_pending_frames = 8;
    // Most bytes of RGB frames in the window (each frame counts its input
    // and its S outputs); lowers the two limits above for big frames or many
    // styles, to no fewer than 2 frames. 0 = no byte limit. Default 512 MiB.
    int64_t max_window_bytes = int64_t{512} << 20;
    // Audio packets waiting in the window. Default 1024.
    int max_pending_audio = 1024;
    // Demuxer and decoder settings.
    MovieReader::Options reader;
    // Least time between two OnProgress calls. Default 500 ms.
    absl::Duration progress_interval = absl::Milliseconds(500);
    // Frames not started by then are dropped (DEADLINE_EXCEEDED).
    absl::Time deadline = absl::InfiniteFuture();
    // For logs.
    std::string name;
    // Optional: called once the input is probed, before JobAccepted, any
    // decoding or encoder: a non-OK return (RESOURCE_EXHAUSTED when the
    // memory budget cannot hold the job) ends the job with that status.
    std::function<absl::Status(const VideoMemory&)> reserve_memory;
    // Optional timing hooks (called on the job's threads; must be cheap and
    // thread-safe): demux + decode + convert of one frame, and convert +
    // encode + mux of one frame of one output.
    std::function<void(absl::Duration)> on_decode_time;
    std::function<void(absl::Duration)> on_encode_time;
  };

  // Validates `options` and starts the job's threads. `spool` and `sink`
  // must outlive the pipeline. The sink hears OnFinished exactly once (also
  // after Cancel).
  static absl::StatusOr<std::unique_ptr<VideoPipeline>> Start(Options options,
                                                              Spool* spool,
                                                              VideoSink* sink);

  // What the decoder of `info`'s video holds at most with `threads` threads
  // (0 = FFmpeg's choice, one per core and one more): the largest reference
  // picture buffer of H.264 and HEVC (16 frames), one frame per thread and
  // the frame being decoded, all at the input's size.
  static int64_t EstimateDecoderBytes(const MovieInfo& info, int threads);

  // Estimated memory of one output's H.264 encoder and muxer for frames of
  // `width` x `height` with x264 `preset` and `threads` encoder threads:
  // x264's frames in flight (lookahead, B-frames, references, more per
  // thread), the converted YUV frame and the muxer's fragment. Fitted, a
  // little above, to the heap growth measured for each preset (see
  // docs/server.md); an unknown preset counts as the costliest.
  static int64_t EstimateEncoderBytes(int width, int height,
                                      absl::string_view preset, int threads);

  // Cancels (if still running) and waits for the threads to end.
  ~VideoPipeline();

  // Ends the job with `status` as soon as possible: aborts the spool, cancels
  // the queued frames, wakes every thread. Idempotent; the first status wins.
  void Cancel(absl::Status status) ABSL_LOCKS_EXCLUDED(mu_);

  // Whether the sink has had OnFinished.
  bool finished() const ABSL_LOCKS_EXCLUDED(mu_);
  // Frames written to every output so far. Never call it holding a lock
  // that a VideoSink callback takes.
  int64_t frames_done() const ABSL_LOCKS_EXCLUDED(mu_);
  // Frames decoded so far. The same rule.
  int64_t frames_decoded() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct Entry;

  VideoPipeline(Options options, Spool* spool, VideoSink* sink);
  void Run();
  absl::StatusOr<VideoSummary> RunJob();
  // Reads frames, converts them to RGB, turns them by `orientation`
  // (rgb_turn.h; 1 = as stored), and feeds the window and the job.
  absl::Status DecodeLoop(MovieReader* reader, RgbConverter* converter,
                          int orientation, Job* job);
  void WriterLoop(int index, MovieWriter* writer);
  void OnResult(FrameResult result) ABSL_LOCKS_EXCLUDED(mu_);
  // Appends an entry once the window has room; false if the job failed.
  bool PushEntry(std::unique_ptr<Entry> entry) ABSL_LOCKS_EXCLUDED(mu_);
  void MaybeReportProgress() ABSL_LOCKS_EXCLUDED(mu_);
  // For an input whose frame count the probe could only guess: the
  // estimate becomes the frames decoded so far scaled by the input's size
  // over `position`, the byte offset of the last frame's packet, once the
  // size is known (announced, or the upload has ended).
  void EstimateFramesFromPosition(int64_t position) ABSL_LOCKS_EXCLUDED(mu_);
  absl::Status error() const ABSL_LOCKS_EXCLUDED(mu_);

  const Options options_;
  const int num_outputs_;
  Spool* const spool_;
  VideoSink* const sink_;
  const absl::Time start_time_;

  mutable absl::Mutex mu_;
  absl::Status error_ ABSL_GUARDED_BY(mu_);
  std::shared_ptr<Job> job_ ABSL_GUARDED_BY(mu_);
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  // The window: entries from the decoder's next-to-last to the slowest
  // writer's next. window_[0] has absolute position window_base_.
  std::deque<std::unique_ptr<Entry>> window_ ABSL_GUARDED_BY(mu_);
  uint64_t window_base_ ABSL_GUARDED_BY(mu_) = 0;
  int window_frames_ ABSL_GUARDED_BY(mu_) = 0;
  int window_audio_ ABSL_GUARDED_BY(mu_) = 0;
  // Most frames in the window (set once the frame size is known).
  int max_window_frames_ ABSL_GUARDED_BY(mu_) = 0;
  // Video entries by sequence number until their result arrives.
  std::unordered_map<uint64_t, Entry*> awaiting_ ABSL_GUARDED_BY(mu_);
  // Next absolute window position of each writer.
  std::vector<uint64_t> cursors_ ABSL_GUARDED_BY(mu_);
  int64_t frames_decoded_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t frames_done_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t frames_estimate_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Time last_progress_ ABSL_GUARDED_BY(mu_);
  int64_t frames_done_at_last_progress_ ABSL_GUARDED_BY(mu_) = 0;

  std::thread thread_;
};

}  // namespace media
}  // namespace stylizer

#endif  // STYLIZER_SERVER_MEDIA_VIDEO_PIPELINE_H_
