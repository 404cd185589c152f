// `stylizer image INPUT... [--styles=SPEC] [--out=PATH]`: PNG or JPEG files
// in, one stylized image per style and input out; an input's images are
// written only when every one of them arrived. Several inputs are sent a few
// at a time, so that the server batches them together. An input `-` is read
// from standard input; `--out=-` writes the one image to standard output.
#include <algorithm>
#include <atomic>
#include <filesystem>
#include <string>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "client/cmd_image_internal.h"
#include "client/commands.h"
#include "client/interrupt.h"
#include "client/output_files.h"
#include "client/rpc_errors.h"

namespace stylizer::client {
namespace {

namespace fs = std::filesystem;
using stylizer::v1::ImageFormat;

// Output format of a file name: PNG, JPEG, or UNSPECIFIED if neither.
ImageFormat FormatOf(const std::string& ext) {
  if (ext == "png") return stylizer::v1::IMAGE_FORMAT_PNG;
  if (ext == "jpg" || ext == "jpeg") return stylizer::v1::IMAGE_FORMAT_JPEG;
  return stylizer::v1::IMAGE_FORMAT_UNSPECIFIED;
}

// --format: PNG, JPEG, or UNSPECIFIED when not given (the output's own
// extension decides, PNG for a directory or standard output).
absl::StatusOr<ImageFormat> FormatFlag() {
  // Any case, as --out's extension (--format=JPG was refused).
  const std::string format = absl::AsciiStrToLower(absl::GetFlag(FLAGS_format));
  if (format.empty()) return stylizer::v1::IMAGE_FORMAT_UNSPECIFIED;
  const ImageFormat f = FormatOf(format);
  if (f == stylizer::v1::IMAGE_FORMAT_UNSPECIFIED) {
    return UsageError(absl::StrCat("--format=", format, ": use png or jpg"));
  }
  return f;
}

// Where the outputs go. --out is a file when it has an image extension and is
// not a directory; otherwise a directory. "-" (standard output) has no plan:
// the one image is written there.
absl::StatusOr<ImagePlan> PlanOutputs(
    const std::string& input, const std::vector<ResolvedStyle>& styles) {
  std::string out = absl::GetFlag(FLAGS_out);
  if (out.empty()) out = ".";
  auto format = FormatFlag();
  if (!format.ok()) return format.status();
  std::error_code ec;
  const bool is_dir = fs::is_directory(out, ec) || absl::EndsWith(out, "/") ||
                      FileExtension(out).empty();
  ImagePlan plan;
  if (is_dir) {
    plan.dir = out;
    const bool jpeg = *format == stylizer::v1::IMAGE_FORMAT_JPEG;
    if (jpeg) plan.format = stylizer::v1::IMAGE_FORMAT_JPEG;
    for (const auto& s : styles) {
      plan.paths.push_back(
          OutputPath(out, InputStem(input), s.label, jpeg ? "jpg" : "png"));
    }
    return plan;
  }
  const std::string ext = FileExtension(out);
  plan.format = FormatOf(ext);
  if (plan.format == stylizer::v1::IMAGE_FORMAT_UNSPECIFIED) {
    return UsageError(absl::StrCat("--out=", out,
                                   ": name a .png or .jpg file, or a directory"));
  }
  if (*format != stylizer::v1::IMAGE_FORMAT_UNSPECIFIED &&
      *format != plan.format) {
    return UsageError(absl::StrCat("--format=", absl::GetFlag(FLAGS_format),
                                   " and --out=", out,
                                   " disagree; leave --format out for a file"));
  }
  plan.dir = fs::path(out).parent_path().string();
  if (plan.dir.empty()) plan.dir = ".";
  if (styles.size() == 1) {
    plan.paths.push_back(out);
  } else {
    for (const auto& s : styles) {
      plan.paths.push_back(OutputPath(plan.dir, FileStem(out), s.label, ext));
    }
  }
  return plan;
}

// The images in flight at once for several inputs: --concurrency, or by
// default (0) kDefaultImagesInFlight (the server batches them together).
constexpr int kDefaultImagesInFlight = 4;

int ImagesInFlight() {
  const int flag = absl::GetFlag(FLAGS_concurrency);
  return flag > 0 ? flag : kDefaultImagesInFlight;
}

}  // namespace

absl::Status RunImage(const Invocation& inv, const CommandIo& io) {
  if (inv.args.empty()) {
    return UsageError(
        "usage: stylizer image INPUT... [--styles=SPEC] [--out=PATH|-] "
        "[--format=png|jpg] [--max_side=N] "
        "[--preserve_color] [--concurrency=N]");
  }
  if (absl::GetFlag(FLAGS_max_side) < 0) {
    return UsageError("--max_side must not be negative (0 keeps the size)");
  }
  const std::vector<std::string>& inputs = inv.args;
  const bool several = inputs.size() > 1;
  if (absl::GetFlag(FLAGS_concurrency) < 0 ||
      absl::GetFlag(FLAGS_concurrency) > 1024) {
    return UsageError("--concurrency must be within 1..1024");
  }
  // The error_code form: the throwing one aborted the command on a name
  // too long or a symbolic link loop.
  std::error_code out_error;
  if (several && !FileExtension(absl::GetFlag(FLAGS_out)).empty() &&
      !fs::is_directory(absl::GetFlag(FLAGS_out), out_error)) {
    return UsageError(absl::StrCat("--out=", absl::GetFlag(FLAGS_out),
                                   ": several inputs need a directory"));
  }
  if (std::count(inputs.begin(), inputs.end(), kStdioName) > 1) {
    return UsageError("standard input (-) can be read only once");
  }
  if (std::count(inputs.begin(), inputs.end(), kStdioName) > 0) {
    if (absl::Status s = CheckStdinUsable(io); !s.ok()) return s;
  }
  const bool to_stdout = absl::GetFlag(FLAGS_out) == kStdioName;
  if (to_stdout && several) {
    return UsageError("--out=- writes one image; several inputs need a directory");
  }
  if (to_stdout && io.out_is_tty) {
    return UsageError(
        "--out=- writes the image to standard output, which is a terminal; "
        "pipe it to a program or redirect it to a file");
  }
  // --format and the --out extension are usage errors before any call (they
  // were found only after connecting: exit 1, "cannot reach", when no server
  // was there).
  // (PlanOutputs checks --format as well.)
  if (absl::Status s = to_stdout ? FormatFlag().status()
                                 : PlanOutputs(inputs[0], {}).status();
      !s.ok()) {
    return s;
  }
  // One input is read and checked before connecting; several, each in turn.
  // Set to stop a read of standard input: Ctrl-C, or a failure that ends
  // the command.
  std::atomic<bool> stop_reading{false};
  absl::StatusOr<std::string> single;
  if (!several) {
    // Ctrl-C ends a read of standard input that waits on a silent pipe.
    CancelOnInterrupt while_reading([&stop_reading] { stop_reading = true; });
    single = ReadImage(inputs[0], io, stop_reading);
    if (!single.ok()) {
      return Interrupted() ? absl::CancelledError("interrupted")
                           : single.status();
    }
  }
  auto client = ConnectFromFlags();
  if (!client.ok()) return client.status();
  // Ctrl-C cancels the calls; the temporary files are then deleted.
  CancelOnInterrupt on_interrupt([c = client->get(), &stop_reading] {
    stop_reading = true;
    c->CancelAll();
  });
  auto styles = ResolveStyles(**client, "all");
  if (!styles.ok()) return styles.status();
  if (to_stdout) {
    if (styles->size() != 1) {
      return UsageError(absl::StrCat(
          "--out=- writes one image, and --styles names ", styles->size(),
          " styles; pick one (--styles=NAME) or give --out a directory"));
    }
    auto format = FormatFlag();
    if (!format.ok()) return format.status();
    return StylizeToStream(**client, *std::move(single), styles->front(),
                           *format == stylizer::v1::IMAGE_FORMAT_JPEG
                               ? stylizer::v1::IMAGE_FORMAT_JPEG
                               : stylizer::v1::IMAGE_FORMAT_PNG,
                           io.out);
  }

  // Every input's outputs, checked before any call: no two inputs may write
  // the same file (a/x.png and b/x.jpg), and no path may be unusable.
  std::vector<ImagePlan> plans;
  std::vector<std::vector<std::string>> paths;
  for (const std::string& input : inputs) {
    auto plan = PlanOutputs(input, *styles);
    if (!plan.ok()) return plan.status();
    paths.push_back(plan->paths);
    plans.push_back(*std::move(plan));
  }
  auto all_paths = DistinctOutputPaths(inputs, paths);
  if (!all_paths.ok()) return all_paths.status();
  if (absl::Status s = CheckOutputTargets(*all_paths); !s.ok()) return s;

  if (!several) {
    auto paths = StylizeOne(**client, *std::move(single), *styles, plans[0]);
    if (!paths.ok()) return paths.status();
    for (const std::string& p : *paths) *io.out << p << "\n";
    return absl::OkStatus();
  }

  // Several: a few calls in flight, each input written as it arrives. An
  // input's own failure is named and the others go on; any other failure
  // (no server, credentials) stops them all.
  absl::Mutex mu;
  size_t next = 0;
  int failed = 0;
  absl::Status fatal;
  auto worker = [&] {
    while (true) {
      size_t k;
      {
        absl::MutexLock lock(&mu);
        if (next >= inputs.size() || !fatal.ok()) return;
        k = next++;
      }
      absl::StatusOr<std::string> data = ReadImage(inputs[k], io, stop_reading);
      absl::StatusOr<std::vector<std::string>> paths =
          data.ok() ? StylizeOne(**client, *std::move(data), *styles, plans[k])
                    : data.status();
      absl::MutexLock lock(&mu);
      absl::Status ends = ReportInputOutcome(inputs[k], paths, io, &failed);
      if (!ends.ok() && fatal.ok()) {
        fatal = ends;
        stop_reading = true;
        (*client)->CancelAll();
      }
    }
  };
  const int threads =
      std::min<int>(ImagesInFlight(), static_cast<int>(inputs.size()));
  std::vector<std::thread> pool;
  for (int i = 0; i < threads; ++i) pool.emplace_back(worker);
  for (std::thread& t : pool) t.join();
  if (!fatal.ok()) return fatal;
  if (failed > 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        failed, " of ", inputs.size(), " images failed (each is named above)"));
  }
  return absl::OkStatus();
}

}  // namespace stylizer::client
