// `stylizer video INPUT... --out=DIR ...`: uploads a movie in chunks while the
// stylized movies stream back into DIR/<stem>.<style>.<ext> (temp names,
// renamed when complete), shows progress, and optionally draws a contact sheet.
// Several inputs go one after another; one's own failure is named and the
// others go on.
// INPUT `-` reads standard input as it arrives; `--out=-` writes the one
// output to standard output as it arrives.
#include <algorithm>
#include <filesystem>
#include <memory>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "client/cmd_video_internal.h"
#include "client/commands.h"
#include "client/interrupt.h"
#include "client/output_files.h"
#include "client/rpc_errors.h"

namespace stylizer::client {
namespace {

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
  settings.name_inputs = several;
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
    auto opened = OpenVideoInput(inputs[0], io);
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
    // --split joins each output under ".<name>.joined" first: 8 more bytes.
    const size_t extra =
        kTempNameExtraBytes +
        (!settings.split.empty() && settings.split_segments != 1 ? 8 : 0);
    if (absl::Status s = CheckOutputTargets(*targets, extra); !s.ok()) {
      return s;
    }
    if (!settings.sheet.empty()) {
      if (absl::Status s = CheckOutputTargets({settings.sheet},
                                              kTempNameExtraBytes,
                                              "--contact_sheet");
          !s.ok()) {
        return s;
      }
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
