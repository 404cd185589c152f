// Whole-movie benchmark. Makes (or takes) a movie, then measures:
//   model: ready RGB frames of the movie's output size straight into the job
//          queue, S style rows each (the model as served, nothing else);
//   e2e:   the StylizeVideo pipeline (spool -> decode -> job queue -> model ->
//          S x264 encoders + muxers, bytes discarded) on the whole movie.
// Both report stylized frames (input frames x S) per second; e2e also reports
// the process's peak resident memory (VmHWM), for the memory plateau check
// (run it as separate processes for a short and a long movie).
//   video_bench --mode=both --size=640x360 --seconds=10 --styles=8
//   video_bench --mode=e2e --model=fake --size=1280x720 --seconds=60
#include <cstdio>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "server/batching/job_queue.h"
#include "server/batching/job_queue_options.h"
#include "server/media/spool.h"
#include "server/media/testing/fake_job.h"
#include "server/media/testing/test_movies.h"
#include "server/media/video_pipeline.h"
#include "server/model/torch_model.h"

extern "C" {
#include <libavutil/log.h>
}

ABSL_FLAG(std::string, mode, "both", "model, e2e or both");
ABSL_FLAG(std::string, model, "",
          "serving archive; empty = <build>/testdata/random4.pt; 'fake' = "
          "pixel inversion instead of a network (e2e only)");
ABSL_FLAG(std::string, input, "", "movie file; empty = make one");
ABSL_FLAG(std::string, size, "640x360", "size of the made movie WxH");
ABSL_FLAG(double, seconds, 10, "length of the made movie");
ABSL_FLAG(int, fps, 30, "frame rate of the made movie");
ABSL_FLAG(int, styles, 8, "outputs per movie (S)");
ABSL_FLAG(int, max_batch, 8, "job queue max batch size");
ABSL_FLAG(int, threads, 2, "LibTorch intra-op threads (0 = all cores)");
ABSL_FLAG(std::string, precision, "fp32", "model precision (auto, fp32, ...)");
ABSL_FLAG(std::string, preset, "veryfast", "x264 preset");
ABSL_FLAG(int, model_batches, 20, "frames timed in model-only mode");

namespace stylizer {
namespace {

double PeakRssMb() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmHWM:", 0) == 0) {
      std::vector<std::string> f =
          absl::StrSplit(line, ' ', absl::SkipWhitespace());
      double kb = 0;
      if (f.size() >= 2 && absl::SimpleAtod(f[1], &kb)) return kb / 1024;
    }
  }
  return 0;
}

std::vector<std::vector<float>> StyleRows(int outputs, int num_styles) {
  std::vector<std::vector<float>> rows;
  for (int i = 0; i < outputs; ++i) {
    std::vector<float> row(num_styles, 0.f);
    row[i % num_styles] = 1.f;
    if (i >= num_styles) row[(i + 1) % num_styles] = 1.f;  // a blend
    rows.push_back(row);
  }
  return rows;
}

// Counts output bytes, discards them.
class NullSink : public media::VideoSink {
 public:
  void OnAccepted(const media::MovieInfo& info, int w, int h) override {
    width = w;
    height = h;
  }
  void OnProgress(const media::VideoProgress&) override {}
  absl::Status OnOutputChunk(int, absl::string_view bytes) override {
    bytes_out += bytes.size();
    return absl::OkStatus();
  }
  void OnFinished(absl::StatusOr<media::VideoSummary> r) override {
    result = std::move(r);
    done.Notify();
  }
  int width = 0, height = 0;
  std::atomic<uint64_t> bytes_out{0};
  absl::StatusOr<media::VideoSummary> result = absl::UnknownError("running");
  absl::Notification done;
};

int Main() {
  av_log_set_level(AV_LOG_ERROR);
  const int outputs = absl::GetFlag(FLAGS_styles);
  std::string input = absl::GetFlag(FLAGS_input);
  if (input.empty()) {
    input = media::testing::MakeTempDir("video-bench") + "/input.mp4";
    std::string size = absl::GetFlag(FLAGS_size);
    absl::Status s = media::testing::MakeMovie(
        absl::StrFormat(
            "-f lavfi -i testsrc2=size=%s:rate=%d:duration=%g -f lavfi -i "
            "sine=frequency=440:duration=%g -c:v libx264 -preset ultrafast "
            "-pix_fmt yuv420p -c:a aac -shortest",
            size, absl::GetFlag(FLAGS_fps), absl::GetFlag(FLAGS_seconds),
            absl::GetFlag(FLAGS_seconds)),
        input);
    if (!s.ok()) {
      std::fprintf(stderr, "%s\n", s.ToString().c_str());
      return 1;
    }
  }

  std::unique_ptr<StyleModel> model;
  std::string model_path = absl::GetFlag(FLAGS_model);
  if (model_path != "fake") {
    if (model_path.empty()) {
      const char* build = std::getenv("STYLIZER_BUILD_DIR");
      model_path =
          absl::StrCat(build ? build : "build", "/testdata/random4.pt");
    }
    TorchModelOptions options;
    options.archive_path = model_path;
    options.threads = absl::GetFlag(FLAGS_threads);
    options.precision = absl::GetFlag(FLAGS_precision);
    options.log = [](absl::string_view) {};
    auto loaded = TorchModel::Create(options);
    if (!loaded.ok()) {
      std::fprintf(stderr, "%s\n", loaded.status().ToString().c_str());
      return 1;
    }
    model = *std::move(loaded);
    std::printf("model %s device=%s precision=%s\n",
                model->description().name.c_str(),
                model->description().device.c_str(),
                model->description().precision.c_str());
  }
  const int num_styles = model ? model->num_styles() : 4;
  const std::vector<std::vector<float>> rows = StyleRows(outputs, num_styles);
  const std::string mode = absl::GetFlag(FLAGS_mode);

  // Probe the movie's size once through the pipeline's own rule.
  auto probed = media::testing::ProbeMovie(input);
  if (!probed.ok()) return 1;
  auto [width, height] = media::OutputSize(probed->width, probed->height, 0);
  std::printf("movie %s %dx%d frames=%lld S=%d preset=%s\n", input.c_str(),
              width, height, static_cast<long long>(probed->frames), outputs,
              absl::GetFlag(FLAGS_preset).c_str());

  // The job queue on the same model, same options, same threads as e2e.
  std::unique_ptr<JobQueue> queue;
  if (model != nullptr) {
    JobQueue::Options qo;
    qo.max_batch_size = absl::GetFlag(FLAGS_max_batch);
    auto created = JobQueue::Create(qo, model.get(), nullptr);
    if (!created.ok()) return 1;
    queue = *std::move(created);
  }

  // Model only: ready RGB frames of the movie's output size go straight into
  // the queue (S rows each, as a movie's frames do): no decoding, no
  // encoding. Run before and after the e2e pass (the mean is the reference;
  // the machine's load varies).
  auto model_only = [&]() -> double {
    const int n = absl::GetFlag(FLAGS_model_batches);
    auto frame = std::make_shared<RgbFrame>();
    frame->width = width;
    frame->height = height;
    frame->pixels.resize(static_cast<size_t>(width) * height * 3);
    for (size_t i = 0; i < frame->pixels.size(); ++i) {
      frame->pixels[i] = static_cast<uint8_t>(i * 31);
    }
    absl::Mutex mu;
    int done = 0;
    bool failed = false;
    JobOptions jo;
    jo.max_frames_in_flight = 8;
    jo.on_result = [&](FrameResult r) {
      absl::MutexLock lock(&mu);
      ++done;
      failed |= !r.status.ok();
    };
    auto job = queue->OpenJob(std::move(jo));
    if (!job.ok()) return 0;
    absl::Time start = absl::Now();
    for (int i = 0; i < n; ++i) {
      FrameRequest request;
      request.frame = frame;
      request.style_weights = rows;
      request.sequence = i;
      if (!(*job)->Submit(&request).ok()) return 0;
    }
    {
      absl::MutexLock lock(&mu);
      mu.Await(absl::Condition(
          +[](int* d) { return *d == absl::GetFlag(FLAGS_model_batches); },
          &done));
    }
    double rate = n * static_cast<double>(outputs) /
                  absl::ToDoubleSeconds(absl::Now() - start);
    std::printf(
        "model-only: %d frames x %d styles at %dx%d: %.2f stylized "
        "frames/s%s\n",
        n, outputs, width, height, rate, failed ? " (FAILED)" : "");
    return failed ? 0 : rate;
  };
  const bool run_model =
      (mode == "model" || mode == "both") && model != nullptr;
  double model_rate = run_model ? model_only() : 0;
  double e2e_rate = 0;

  if (mode == "e2e" || mode == "both") {
    media::testing::FakeJobQueue fake;
    media::VideoPipeline::Options options;
    options.style_weights = rows;
    if (model != nullptr) {
      options.open_job = [&](JobOptions o) {
        return queue->OpenJob(std::move(o));
      };
    } else {
      options.open_job = [&](JobOptions o) {
        return fake.OpenJob(std::move(o));
      };
    }
    options.preset = absl::GetFlag(FLAGS_preset);
    auto spool = media::Spool::Create({});
    NullSink sink;
    absl::Time start = absl::Now();
    auto pipeline = media::VideoPipeline::Start(options, spool->get(), &sink);
    if (!pipeline.ok()) return 1;
    // Upload from the file in 1 MiB pieces, as a client would, so that the
    // process holds no copy of the movie besides the job's own spool.
    std::ifstream file(input, std::ios::binary);
    std::vector<char> piece(1 << 20);
    while (file) {
      file.read(piece.data(), static_cast<std::streamsize>(piece.size()));
      if (file.gcount() <= 0) break;
      if (!(*spool)
               ->Append(absl::string_view(piece.data(), file.gcount()))
               .ok()) {
        break;
      }
    }
    (*spool)->Finish();
    sink.done.WaitForNotification();
    double secs = absl::ToDoubleSeconds(absl::Now() - start);
    if (!sink.result.ok()) {
      std::fprintf(stderr, "%s\n", sink.result.status().ToString().c_str());
      return 1;
    }
    int64_t frames = sink.result->outputs[0].frames;
    std::printf(
        "e2e: %lld frames x %d outputs in %.2f s: %.2f stylized frames/s "
        "(%.2f movie frames/s), %.1f MB out, peak RSS %.1f MB\n",
        static_cast<long long>(frames), outputs, secs, frames * outputs / secs,
        frames / secs, sink.bytes_out / 1e6, PeakRssMb());
    e2e_rate = frames * outputs / secs;
    pipeline->reset();
  }
  if (run_model && e2e_rate > 0) {
    model_rate = (model_rate + model_only()) / 2;
    std::printf("e2e / model-only = %.3f\n", e2e_rate / model_rate);
  }
  return 0;
}

}  // namespace
}  // namespace stylizer

int main(int argc, char** argv) {
  setvbuf(stdout, nullptr, _IOLBF, 0);
  absl::ParseCommandLine(argc, argv);
  return stylizer::Main();
}
