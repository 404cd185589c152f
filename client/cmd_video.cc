// `stylizer video INPUT... --out=DIR ...`: uploads a movie in chunks while the
// stylized movies stream back into DIR/<stem>.<style>.<ext> (temp names,
// renamed when complete), shows progress, and optionally draws a contact sheet.
// Several inputs go one after another; one's own failure is named and the
// others go on.
// INPUT `-` reads standard input as it arrives; `--out=-` writes the one
// output to standard output as it arrives.
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <memory>
#include <optional>
#include <system_error>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "client/commands.h"
#include "client/contact_sheet.h"
#include "client/interrupt.h"
#include "client/output_files.h"
#include "client/progress.h"
#include "client/rpc_errors.h"
#include "client/split_video.h"
#include "client/still_image.h"
#include "client/target_addresses.h"
#include "client/terminal_text.h"
#include "client/video_outputs.h"

namespace stylizer::client {
namespace {

// Forwards a job's messages to the outputs and the progress display.
class CliVideoObserver : public VideoObserver {
 public:
  // `notes` gets the retry lines (a wait of up to 30 s must not look like a
  // hang) and the damaged-packets warning when there is no progress display
  // (--progress=none).
  CliVideoObserver(VideoObserver* files, ProgressReporter* progress,
                   int outputs, int max_retries, std::ostream* notes)
      : files_(files),
        progress_(progress),
        outputs_(outputs),
        max_retries_(max_retries),
        notes_(notes) {}

  void OnUploadProgress(uint64_t sent, uint64_t total) override {
    if (progress_) progress_->OnUpload(sent, total);
  }
  absl::Status OnAccepted(const stylizer::v1::JobAccepted& a) override {
    const auto& in = a.input();
    if (progress_) {
      const std::string scaled =
          in.output_width() > 0 && (in.output_width() != in.width() ||
                                    in.output_height() != in.height())
              ? absl::StrFormat(" -> %dx%d", in.output_width(),
                                in.output_height())
              : "";
      // Counter-clockwise, as ffprobe says it of a matrix without a mirror:
      // why a player shows the outputs turned (and mirrored).
      const std::string rotated = absl::StrCat(
          in.rotation_degrees() != 0
              ? absl::StrFormat(" rotated %d", in.rotation_degrees())
              : "",
          in.mirrored() ? " mirrored" : "");
      const std::string hdr =
          in.hdr_transfer().empty()
              ? ""
              : absl::StrCat(" HDR (", in.hdr_transfer(), ") -> SDR");
      progress_->Note(absl::StrFormat(
          "job %s: %dx%d%s%s%s, %.2f fps, %.1f s, ~%d frames, %s%s; %d %s",
          TerminalSafe(a.job_id()), in.width(), in.height(), rotated, scaled,
          TerminalSafe(hdr), in.fps(), in.duration_seconds(),
          in.frames_estimate(), TerminalSafe(in.video_codec()),
          in.has_audio() ? absl::StrCat(" + ", TerminalSafe(in.audio_codec()))
                         : " (no sound)",
          outputs_, outputs_ == 1 ? "output" : "outputs"));
      progress_->OnAccepted(in.frames_estimate(), outputs_);
    }
    return files_->OnAccepted(a);
  }
  void OnProgress(const stylizer::v1::Progress& p) override {
    if (progress_) {
      progress_->OnFrames(p.frames_done(), p.frames_estimate(), p.fps());
    }
  }
  void OnRetry(const absl::Status& why, absl::Duration wait,
               int retry) override {
    Say(absl::StrCat("retry ", retry, " of ", max_retries_, " in ",
                     absl::FormatDuration(wait), ": ", ErrorLine(why)));
  }
  absl::Status OnChunk(uint32_t index, absl::string_view data) override {
    if (progress_) progress_->OnOutputBytes(data.size());
    return files_->OnChunk(index, data);
  }
  absl::Status OnSummary(const stylizer::v1::JobSummary& s) override {
    if (progress_) {
      uint64_t frames = 0;
      for (const auto& o : s.outputs()) frames = std::max(frames, o.frames());
      const auto st = progress_->state();
      progress_->OnFrames(frames, frames, st.fps);
    }
    if (const std::string warning = SkippedPacketsWarning(s);
        !warning.empty()) {
      Say(warning);
    }
    return files_->OnSummary(s);
  }

 private:
  void Say(const std::string& line) {
    if (progress_) {
      progress_->Note(line);
    } else if (notes_ != nullptr) {
      *notes_ << line << std::endl;
    }
  }

  VideoObserver* files_;
  ProgressReporter* progress_;
  int outputs_;
  int max_retries_;
  std::ostream* notes_;
};

absl::StatusOr<stylizer::v1::Container> ContainerFlag(std::string* ext) {
  const std::string c = absl::AsciiStrToLower(absl::GetFlag(FLAGS_container));
  if (c == "mp4") {
    *ext = "mp4";
    return stylizer::v1::CONTAINER_MP4;
  }
  if (c == "mkv" || c == "matroska") {
    *ext = "mkv";
    return stylizer::v1::CONTAINER_MATROSKA;
  }
  return UsageError(absl::StrCat("--container=", c, ": use mp4 or mkv"));
}

// What every movie of one command shares: the checked flags.
struct VideoSettings {
  std::string out;  // a directory, or "-"
  bool to_stdout = false;
  std::string ext;
  bool matroska = false;
  std::string sheet;
  std::string split;
  int split_segments = 0;  // 0: auto
  std::string progress_mode;
};

// The upload source of `input`: standard input for "-", else the file.
absl::StatusOr<std::unique_ptr<ByteSource>> OpenInput(const std::string& input,
                                                      const CommandIo& io) {
  if (input == kStdioName) {
    if (io.in_fd >= 0) {
      return std::make_unique<StreamSource>(io.in_fd, "standard input");
    }
    return std::make_unique<StreamSource>(io.in, "standard input");
  }
  auto file = FileSource::Open(input);
  if (!file.ok()) return file.status();
  // The server makes a one-frame movie of a still picture, upright as the
  // photo's EXIF says: wanted at times (a still in a film), more often a
  // slip for `stylizer image`, which the note names.
  if (absl::string_view kind = StillImageKind(input); !kind.empty()) {
    *io.err << "stylizer: note: " << TerminalSafe(input)
            << " is a still picture (" << kind
            << "): each output is a one-frame movie (stylizer image makes "
               "pictures)\n";
  }
  return std::unique_ptr<ByteSource>(*std::move(file));
}

// One movie: `input` (`source`, or opened here when null) into its outputs,
// with the job message `job` (styles and flags set) and the style `labels`.
// Returns the paths written (none for standard output).
absl::StatusOr<std::vector<std::string>> StylizeMovie(
    StylizerClient& client, const VideoSettings& settings,
    stylizer::v1::VideoJob job, const std::vector<std::string>& labels,
    const std::string& input, std::unique_ptr<ByteSource> source,
    const CommandIo& io) {
  if (source == nullptr) {
    auto opened = OpenInput(input, io);
    if (!opened.ok()) return opened.status();
    source = *std::move(opened);
  }
  const std::string stem = InputStem(input);
  job.set_input_size(source->size());

  std::optional<ProgressReporter> progress;
  if (settings.progress_mode != "none") {
    ProgressReporter::Options po;
    po.tty = settings.progress_mode == "bars" ||
             (settings.progress_mode == "auto" && io.err_is_tty);
    po.out = io.err;
    if (po.tty) po.columns = TerminalColumns(STDERR_FILENO);
    progress.emplace(po);
  }
  ProgressReporter* reporter = progress ? &*progress : nullptr;
  std::optional<SplitPlan> plan;
  const int replicas = CountTargetAddresses(client.options().server);
  if (!settings.split.empty() && settings.split_segments != 1) {
    SplitRequest request;
    request.requested = settings.split_segments;
    request.replicas = replicas;
    auto planned =
        PlanSplit(input, request, settings.matroska, job.drop_audio());
    if (!planned.ok()) return planned.status();
    plan = *std::move(planned);
    if (!plan->note.empty()) *io.err << plan->note << "\n";
  }

  std::vector<std::string> paths;
  if (plan && !plan->cuts.empty()) {
    SplitJob split_job;
    split_job.input = input;
    split_job.job = job;
    split_job.cuts = plan->cuts;
    split_job.labels = labels;
    split_job.out_dir = settings.out;
    split_job.stem = stem;
    split_job.ext = settings.ext;
    split_job.matroska = settings.matroska;
    split_job.replicas = replicas;
    split_job.verbose = absl::GetFlag(FLAGS_verbose);
    auto done = RunSplitVideo(client, split_job, reporter, io.err);
    if (progress) progress->Finish(done.ok());
    if (!done.ok()) return done.status();
    paths = *std::move(done);
  } else if (settings.to_stdout) {
    StreamVideoOutput stdout_output(io.out, "standard output");
    CliVideoObserver observer(&stdout_output, reporter, 1,
                              client.options().retry.max_retries, io.err);
    absl::Status status = client.StylizeVideo(job, source.get(), &observer);
    if (progress) progress->Finish(status.ok());
    if (!status.ok()) return status;
    return paths;
  } else {
    VideoOutputs files(settings.out, stem, labels, settings.ext);
    CliVideoObserver observer(&files, reporter, static_cast<int>(labels.size()),
                              client.options().retry.max_retries, io.err);
    absl::Status status = client.StylizeVideo(job, source.get(), &observer);
    if (status.ok()) status = files.Commit();
    if (progress) progress->Finish(status.ok());
    if (!status.ok()) {
      files.Discard();
      return status;
    }
    paths = files.Paths();
  }
  if (!settings.sheet.empty()) {
    std::vector<ContactSheetTile> tiles = {{input, "input"}};
    for (size_t i = 0; i < paths.size(); ++i)
      tiles.push_back({paths[i], labels[i]});
    const std::string dir =
        std::filesystem::path(settings.sheet).parent_path().string();
    absl::Status s = dir.empty() ? absl::OkStatus() : EnsureDirectory(dir);
    if (s.ok()) s = WriteContactSheet(tiles, settings.sheet);
    if (!s.ok()) {
      for (const std::string& p : paths) *io.out << p << "\n";
      return absl::Status(
          s.code(), absl::StrCat("the movies are complete, but the contact "
                                 "sheet failed: ",
                                 s.message()));
    }
    paths.push_back(settings.sheet);
  }
  return paths;
}

}  // namespace

absl::Status RunVideo(const Invocation& inv, const CommandIo& io) {
  if (inv.args.empty()) {
    return UsageError(
        "usage: stylizer video INPUT... [--styles=SPEC] [--out=DIR|-] "
        "[--max_side=N] [--crf=N] [--container=mp4|mkv] [--drop_audio] "
        "[--contact_sheet=FILE.png] [--preserve_color] [--split=auto|N]");
  }
  const std::vector<std::string>& inputs = inv.args;
  const bool several = inputs.size() > 1;
  VideoSettings settings;
  auto container = ContainerFlag(&settings.ext);
  if (!container.ok()) return container.status();
  settings.matroska = *container == stylizer::v1::CONTAINER_MATROSKA;
  const int crf = absl::GetFlag(FLAGS_crf);
  if (crf < 0 || crf > 51) return UsageError("--crf must be within 0..51");
  const int max_side = absl::GetFlag(FLAGS_max_side);
  if (max_side < 0) return UsageError("--max_side must not be negative");
  if (max_side > 0 && max_side < 16) {
    return UsageError("--max_side must be at least 16 (or 0 to keep the size)");
  }
  settings.sheet = absl::GetFlag(FLAGS_contact_sheet);
  if (!settings.sheet.empty() && FileExtension(settings.sheet) != "png") {
    return UsageError("--contact_sheet must name a .png file");
  }
  if (!settings.sheet.empty() && several) {
    return UsageError(
        "--contact_sheet draws one movie; give one input (or run the "
        "command once per movie)");
  }
  settings.split = absl::GetFlag(FLAGS_split);
  const std::string& split = settings.split;
  if (!split.empty() && split != "auto" &&
      (!absl::SimpleAtoi(split, &settings.split_segments) ||
       settings.split_segments < 1 || settings.split_segments > 256)) {
    return UsageError(absl::StrCat("--split=", split,
                                   ": use auto or a number of segments "
                                   "from 1 to 256"));
  }
  settings.progress_mode = absl::GetFlag(FLAGS_progress);
  if (settings.progress_mode != "auto" && settings.progress_mode != "bars" &&
      settings.progress_mode != "plain" && settings.progress_mode != "none") {
    return UsageError("--progress must be auto, bars, plain or none");
  }
  settings.out = absl::GetFlag(FLAGS_out);
  if (settings.out.empty()) settings.out = ".";
  const std::string& out = settings.out;
  settings.to_stdout = out == kStdioName;
  const bool to_stdout = settings.to_stdout;
  const auto stdin_inputs = std::count(inputs.begin(), inputs.end(), kStdioName);
  if (stdin_inputs > 1) {
    return UsageError("standard input (-) can be read only once");
  }
  if (stdin_inputs > 0) {
    if (absl::Status s = CheckStdinUsable(io); !s.ok()) return s;
    if (!split.empty() && split != "1") {
      return UsageError(
          "--split reads the movie several times to cut it; give a file, "
          "not standard input");
    }
  }
  if (!settings.sheet.empty() && (stdin_inputs > 0 || to_stdout)) {
    return UsageError(
        "--contact_sheet reads the input and the outputs again; give files, "
        "not standard input or output");
  }
  if (to_stdout && several) {
    return UsageError(
        "--out=- writes one movie; several inputs need a directory");
  }
  if (to_stdout && io.out_is_tty) {
    return UsageError(
        "--out=- writes the movie to standard output, which is a terminal; "
        "pipe it to a program or redirect it to a file");
  }
  if (to_stdout && !split.empty() && split != "1") {
    return UsageError("--split writes files; give --out a directory");
  }
  if (!to_stdout) {
    std::error_code ec;
    if (std::filesystem::exists(out, ec) &&
        !std::filesystem::is_directory(out, ec)) {
      return UsageError(
          absl::StrCat("--out=", out, " is a file; give a directory"));
    }
    // `--out=styled.mp4`, as for `image --out=styled.png`, made a directory
    // of that name: a name with a movie's extension is taken for a file.
    const std::string ext =
        absl::AsciiStrToLower(std::filesystem::path(out).extension().string());
    if (!std::filesystem::exists(out, ec) &&
        (ext == ".mp4" || ext == ".mkv" || ext == ".mov" || ext == ".m4v" ||
         ext == ".webm")) {
      return UsageError(absl::StrCat(
          "--out=", out,
          " looks like a file, but video writes into a directory "
          "(DIR/<stem>.<style>.<ext>); give a directory, or --out=- > FILE "
          "for one movie in one style"));
    }
  }
  // One input is opened before connecting, so a typo fails at once;
  // several are opened each in turn, and one missing is named.
  std::unique_ptr<ByteSource> single;
  if (!several) {
    auto opened = OpenInput(inputs[0], io);
    if (!opened.ok()) return opened.status();
    single = *std::move(opened);
  }

  auto client = ConnectFromFlags();
  if (!client.ok()) return client.status();
  // Ctrl-C cancels the calls; the temporary files are then deleted.
  CancelOnInterrupt on_interrupt([c = client->get()] { c->CancelAll(); });
  // Said as the job's own retries are (a server still loading, or not up
  // yet, made the command wait silently).
  const int max_retries = (*client)->options().retry.max_retries;
  auto styles =
      ResolveStyles(**client, "all",
                    [&io, max_retries](const absl::Status& why,
                                       absl::Duration wait, int retry) {
                      *io.err << "retry " << retry << " of " << max_retries
                              << " in " << absl::FormatDuration(wait) << ": "
                              << ErrorLine(why) << std::endl;
                    });
  if (!styles.ok()) return styles.status();

  stylizer::v1::VideoJob job;
  std::vector<std::string> labels;
  for (const auto& s : *styles) {
    *job.add_styles() = s.style;
    labels.push_back(s.label);
  }
  if (to_stdout && labels.size() != 1) {
    return UsageError(absl::StrCat(
        "--out=- writes one movie, and --styles names ", labels.size(),
        " styles; pick one (--styles=NAME) or give --out a directory"));
  }
  // Every movie's outputs, checked before the first upload: no two inputs
  // may write one file (a/x.mp4 and b/x.mov), and a directory where an
  // output goes, say, would fail a job only once all its work is done.
  if (!to_stdout) {
    std::vector<std::vector<std::string>> paths;
    for (const std::string& input : inputs) {
      paths.push_back(
          OutputPaths(out, InputStem(input), labels, settings.ext));
    }
    auto targets = DistinctOutputPaths(inputs, paths);
    if (!targets.ok()) return targets.status();
    if (!settings.sheet.empty()) targets->push_back(settings.sheet);
    // --split joins each output under ".<name>.joined" first: 8 more bytes.
    const size_t extra =
        kTempNameExtraBytes +
        (!settings.split.empty() && settings.split_segments != 1 ? 8 : 0);
    if (absl::Status s = CheckOutputTargets(*targets, extra); !s.ok()) {
      return s;
    }
  }
  job.set_container(*container);
  job.set_crf(crf);
  job.set_max_side(max_side);
  job.set_drop_audio(absl::GetFlag(FLAGS_drop_audio));
  job.set_preserve_color(absl::GetFlag(FLAGS_preserve_color));

  if (!several) {
    auto paths = StylizeMovie(**client, settings, job, labels, inputs[0],
                              std::move(single), io);
    if (!paths.ok()) return paths.status();
    for (const std::string& p : *paths) *io.out << p << "\n";
    return absl::OkStatus();
  }
  // Several: one after another (each job already keeps the server's device
  // busy with its frames in every style). A movie's own failure is named
  // and the others go on; any other failure stops the command.
  int failed = 0;
  for (size_t k = 0; k < inputs.size(); ++k) {
    *io.err << "movie " << (k + 1) << " of " << inputs.size() << ": "
            << inputs[k] << "\n";
    absl::Status fatal = ReportInputOutcome(
        inputs[k],
        StylizeMovie(**client, settings, job, labels, inputs[k], nullptr, io),
        io, &failed);
    if (!fatal.ok()) return fatal;
  }
  if (failed > 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        failed, " of ", inputs.size(), " movies failed (each is named above)"));
  }
  return absl::OkStatus();
}

}  // namespace stylizer::client
