// One movie of `stylizer video`: its input opened, its job run whole or
// split over the replicas, its outputs written and its contact sheet
// drawn; see cmd_video_internal.h.
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "client/cli_flags.h"
#include "client/cmd_video_internal.h"
#include "client/contact_sheet.h"
#include "client/output_files.h"
#include "client/split_video.h"
#include "client/still_image.h"
#include "client/target_addresses.h"
#include "client/terminal_text.h"
#include "client/video_outputs.h"

namespace stylizer::client {

absl::StatusOr<std::unique_ptr<ByteSource>> OpenVideoInput(
    const std::string& input, const CommandIo& io) {
  if (input == kStdioName) {
    if (io.in_fd >= 0) {
      return std::make_unique<StreamSource>(io.in_fd, "standard input");
    }
    return std::make_unique<StreamSource>(io.in, "standard input");
  }
  auto file = FileSource::Open(input);
  if (!file.ok()) {
    if (absl::StrContains(file.status().message(), "is a pipe (FIFO)")) {
      return absl::InvalidArgumentError(absl::StrCat(
          file.status().message(),
          "; send a pipe on standard input: stylizer video - < ", input));
    }
    return file.status();
  }
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

absl::StatusOr<std::vector<std::string>> StylizeMovie(
    StylizerClient& client, const VideoSettings& settings,
    stylizer::v1::VideoJob job, const std::vector<std::string>& labels,
    const std::string& input, std::unique_ptr<ByteSource> source,
    const CommandIo& io) {
  if (source == nullptr) {
    auto opened = OpenVideoInput(input, io);
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
    split_job.name_input = settings.name_inputs;
    auto done = RunSplitVideo(client, split_job, reporter, io.err);
    if (progress) progress->Finish(done.ok());
    if (!done.ok()) return done.status();
    paths = *std::move(done);
  } else if (settings.to_stdout) {
    StreamVideoOutput stdout_output(io.out, "standard output",
                                    settings.matroska);
    CliVideoObserver observer(&stdout_output, reporter, 1,
                              client.options().retry.max_retries, io.err);
    absl::Status status = client.StylizeVideo(job, source.get(), &observer);
    if (progress) progress->Finish(status.ok());
    if (!status.ok()) return status;
    return paths;
  } else {
    VideoOutputs files(settings.out, stem, labels, settings.ext);
    CliVideoObserver observer(&files, reporter, static_cast<int>(labels.size()),
                              client.options().retry.max_retries, io.err,
                              settings.name_inputs ? input : "");
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

}  // namespace stylizer::client
