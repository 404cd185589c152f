// `stylizer bench`: a load generator against a running server. Modes: image
// (StylizeImage calls with a raw WxH frame), frames (one StylizeFrames stream
// per worker, one frame in flight each), video (whole StylizeVideo jobs of
// --input). Prints throughput and latency percentiles, or JSON with --json.
#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"
#include "client/commands.h"
#include "client/interrupt.h"
#include "client/load_generator.h"
#include "client/retry.h"
#include "client/rpc_errors.h"

namespace stylizer::client {
namespace {

using stylizer::v1::StylizeFramesRequest;
using stylizer::v1::StylizeFramesResponse;

// A smooth, deterministic test picture (gradients with a diagonal pattern).
stylizer::v1::Image TestFrame(int w, int h) {
  stylizer::v1::Image image;
  auto* raw = image.mutable_raw();
  raw->set_width(w);
  raw->set_height(h);
  std::string rgb(static_cast<size_t>(w) * h * 3, '\0');
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) {
      char* p = &rgb[(static_cast<size_t>(y) * w + x) * 3];
      p[0] = static_cast<char>(255 * x / w);
      p[1] = static_cast<char>(255 * y / h);
      p[2] = static_cast<char>(((x + y) / 8) % 2 ? 200 : 60);
    }
  }
  raw->set_rgb(std::move(rgb));
  return image;
}

// Counts a video job's output without keeping it.
class CountingObserver : public VideoObserver {
 public:
  absl::Status OnChunk(uint32_t, absl::string_view data) override {
    bytes += data.size();
    return absl::OkStatus();
  }
  absl::Status OnSummary(const stylizer::v1::JobSummary& s) override {
    for (const auto& o : s.outputs()) frames += o.frames();
    return absl::OkStatus();
  }
  uint64_t bytes = 0;
  int64_t frames = 0;
};

// One StylizeFrames stream per worker, reopened after a failure.
struct FrameStream {
  std::unique_ptr<grpc::ClientContext> context;
  std::unique_ptr<grpc::ClientReaderWriter<StylizeFramesRequest,
                                           StylizeFramesResponse>>
      stream;
  uint64_t sequence = 0;

  grpc::Status Close() {
    if (!stream) return grpc::Status::OK;
    stream->WritesDone();
    // Finish waits for answers nobody read (a server that sent more than
    // one per frame): read them first.
    StylizeFramesResponse unread;
    while (stream->Read(&unread)) {
    }
    grpc::Status s = stream->Finish();
    stream.reset();
    context.reset();
    return s;
  }

  // Ends a stream whose answers can no longer be matched to its frames.
  void Abandon() {
    if (!stream) return;
    context->TryCancel();
    stream->Finish();
    stream.reset();
    context.reset();
  }
};

}  // namespace

absl::Status RunBench(const Invocation& inv, const CommandIo& io) {
  if (!inv.args.empty()) {
    return UsageError("usage: stylizer bench [--mode=image|frames|video] ...");
  }
  const std::string mode = absl::GetFlag(FLAGS_mode);
  if (mode != "image" && mode != "frames" && mode != "video") {
    return UsageError("--mode must be image, frames or video");
  }
  LoadOptions load;
  load.concurrency = absl::GetFlag(FLAGS_concurrency);
  if (load.concurrency == 0) load.concurrency = 1;  // the default
  load.duration = absl::GetFlag(FLAGS_duration);
  load.count = absl::GetFlag(FLAGS_count);
  if (load.concurrency < 1 || load.concurrency > 1024) {
    return UsageError("--concurrency must be within 1..1024");
  }
  if (load.count < 0) return UsageError("--count must not be negative");
  if (load.count == 0 && load.duration <= absl::ZeroDuration()) {
    return UsageError("give a positive --duration or a --count");
  }
  int w = 0, h = 0;
  std::string size = absl::GetFlag(FLAGS_size);
  if (size.empty()) size = "640x360";
  if (absl::Status s = ParseSize(size, &w, &h); !s.ok()) {
    return s;
  }
  const std::string input = absl::GetFlag(FLAGS_input);
  if (mode == "video" && input.empty()) {
    return UsageError("--mode=video needs --input=MOVIE");
  }
  if (mode == "video") {
    auto probe = FileSource::Open(input);  // fail early on a bad path
    if (!probe.ok()) return probe.status();
  }
  // Busy refusals are what a load test is for: counted, not retried.
  auto client = ConnectFromFlags(/*retry_busy=*/false);
  if (!client.ok()) return client.status();
  StylizerClient& c = **client;
  // Ctrl-C ends the run with the report so far (it ended the command with
  // nothing printed): calls in flight are cancelled and not counted. From
  // here on, so that a signal while the styles are asked for ends the run
  // before it starts, not the command without a word.
  std::atomic<bool> interrupted{false};
  load.stop_early = &interrupted;
  std::optional<CancelOnInterrupt> on_interrupt;
  on_interrupt.emplace([&interrupted, &c] {
    interrupted = true;
    c.CancelAll();
  });
  auto styles = ResolveStyles(c, "0");
  if (!styles.ok()) return styles.status();

  LoadRequest request;
  std::vector<FrameStream> streams(load.concurrency);
  stylizer::v1::StylizeImageRequest image_request;
  stylizer::v1::VideoJob job;
  if (mode == "image") {
    *image_request.mutable_image() = TestFrame(w, h);
    for (const auto& s : *styles) *image_request.add_styles() = s.style;
    image_request.set_output_format(stylizer::v1::IMAGE_FORMAT_RAW);
    request = [&](int) -> absl::StatusOr<int64_t> {
      auto r = c.StylizeImage(image_request);
      if (!r.ok()) return r.status();
      return r->images_size();
    };
  } else if (mode == "frames") {
    const stylizer::v1::Image frame = TestFrame(w, h);
    const absl::Duration timeout = absl::GetFlag(FLAGS_timeout);
    const absl::Time stream_deadline =
        load.count == 0 && timeout > absl::ZeroDuration()
            ? absl::Now() + load.duration + timeout
            : absl::InfiniteFuture();
    // A frame whose stream broke before its answer (UNAVAILABLE: a replica
    // went away) is sent again on a new stream, as --retries says; busy
    // refusals are counted, as in the other modes.
    RetryPolicy policy = c.options().retry;
    policy.retry_busy = false;
    // By value: RunLoad calls it after this block has ended.
    request = [&, frame, policy,
               stream_deadline](int worker) -> absl::StatusOr<int64_t> {
      FrameStream& fs = streams[worker];
      int64_t images = 0;
      absl::Status status = RunWithRetry(policy, [&]() -> AttemptResult {
        StylizeFramesRequest req;
        if (!fs.stream) {
          fs.context = std::make_unique<grpc::ClientContext>();
          // One stream carries every frame of the worker: --timeout is per
          // frame, so the stream's own deadline is the run's end plus it
          // (none when counting frames). A deadline of --timeout from the
          // first frame failed every run longer than --timeout.
          fs.stream = c.OpenFrameStream(fs.context.get(), stream_deadline);
          for (const auto& s : *styles) *req.add_styles() = s.style;
        }
        req.set_sequence(fs.sequence++);
        *req.mutable_image() = frame;
        req.set_output_format(stylizer::v1::IMAGE_FORMAT_RAW);
        StylizeFramesResponse resp;
        if (!fs.stream->Write(req) || !fs.stream->Read(&resp)) {
          absl::Status st = c.Convert(fs.Close());
          if (st.ok()) st = absl::InternalError("the frame stream ended early");
          return {st};
        }
        // A load test counts only answers that are its frames': an answer
        // to another frame, or with an image missing, is an error, and the
        // stream is not used again.
        if (resp.sequence() != req.sequence() ||
            resp.images_size() != static_cast<int>(styles->size())) {
          fs.Abandon();
          return {absl::InternalError(absl::StrCat(
              "the server answered frame ", req.sequence(), " with ",
              resp.images_size(), " images for frame ", resp.sequence(), " (",
              styles->size(), " styles were asked)"))};
        }
        images = resp.images_size();
        return {absl::OkStatus()};
      });
      if (!status.ok()) return status;
      return images;
    };
  } else {
    for (const auto& s : *styles) *job.add_styles() = s.style;
    request = [&](int) -> absl::StatusOr<int64_t> {
      auto source = FileSource::Open(input);
      if (!source.ok()) return source.status();
      CountingObserver counter;
      absl::Status s = c.StylizeVideo(job, source->get(), &counter);
      if (!s.ok()) return s;
      return counter.frames;
    };
  }

  LoadReport report = RunLoad(load, request);
  on_interrupt.reset();
  // Busy refusals are counted, never retried: --retries has no say there.
  report.first_error =
      absl::StrReplaceAll(report.first_error, {{kRetriesNote, ""}});
  for (FrameStream& fs : streams) fs.Close();

  std::string styles_text;
  for (const auto& s : *styles) {
    absl::StrAppend(&styles_text, styles_text.empty() ? "" : ",", s.label);
  }
  const std::string size_text =
      mode == "video" ? input : absl::StrCat(w, "x", h);
  if (absl::GetFlag(FLAGS_json)) {
    *io.out << ReportJson(report,
                          {{"mode", mode},
                           {"server", c.options().server},
                           {"size", size_text},
                           {"styles", styles_text}},
                          {{"concurrency", load.concurrency}})
            << "\n";
  } else {
    *io.out << ReportText(
        report, absl::StrFormat("bench: mode %s, %s, styles %s, concurrency %d, "
                                "server %s",
                                mode, size_text, styles_text, load.concurrency,
                                c.options().server));
  }
  if (report.stopped_early) return absl::CancelledError("interrupted");
  if (report.errors > 0) {
    return absl::UnknownError(absl::StrCat(report.errors, " of ",
                                           report.errors + report.requests,
                                           " requests failed; first: ",
                                           report.first_error));
  }
  return absl::OkStatus();
}

}  // namespace stylizer::client
