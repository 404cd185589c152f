// `stylizer image INPUT... [--styles=SPEC] [--out=PATH]`: PNG or JPEG files
// in, one stylized image per style and input out; an input's images are
// written only when every one of them arrived. Several inputs are sent a few
// at a time, so that the server batches them together. An input `-` is read
// from standard input; `--out=-` writes the one image to standard output.
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <filesystem>
#include <memory>
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
#include "client/byte_source.h"
#include "client/commands.h"
#include "client/image_signatures.h"
#include "client/interrupt.h"
#include "client/output_files.h"
#include "client/rpc_errors.h"
#include "server/common/image_kind.h"

namespace stylizer::client {
namespace {

namespace fs = std::filesystem;
using stylizer::v1::ImageFormat;

bool IsPngOrJpeg(const std::string& data) {
  return absl::StartsWith(data, kPngSignature) ||
         absl::StartsWith(data, kJpegSignature);
}

// Output format of a file name: PNG, JPEG, or UNSPECIFIED if neither.
ImageFormat FormatOf(const std::string& ext) {
  if (ext == "png") return stylizer::v1::IMAGE_FORMAT_PNG;
  if (ext == "jpg" || ext == "jpeg") return stylizer::v1::IMAGE_FORMAT_JPEG;
  return stylizer::v1::IMAGE_FORMAT_UNSPECIFIED;
}

struct Plan {
  std::vector<std::string> paths;
  ImageFormat format = stylizer::v1::IMAGE_FORMAT_PNG;
  std::string dir;
};

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
absl::StatusOr<Plan> PlanOutputs(const std::string& input,
                                 const std::vector<ResolvedStyle>& styles) {
  std::string out = absl::GetFlag(FLAGS_out);
  if (out.empty()) out = ".";
  auto format = FormatFlag();
  if (!format.ok()) return format.status();
  std::error_code ec;
  const bool is_dir = fs::is_directory(out, ec) || absl::EndsWith(out, "/") ||
                      FileExtension(out).empty();
  Plan plan;
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

// All of standard input's bytes. From its descriptor where there is one,
// in slices that `stop` ends: a read blocked on a silent pipe held the
// command (Ctrl-C, another input's fatal failure) until the pipe closed.
absl::StatusOr<std::string> ReadAll(const CommandIo& io,
                                    const std::atomic<bool>& stop) {
  std::string data;
  char buf[1 << 16];
  if (io.in_fd >= 0) {
    while (true) {
      absl::StatusOr<size_t> got =
          ReadSome(io.in_fd, buf, sizeof(buf), stop, "standard input");
      if (!got.ok()) return got.status();
      if (*got == 0) return data;
      data.append(buf, *got);
    }
  }
  std::istream* in = io.in;
  while (in->read(buf, sizeof(buf)) || in->gcount() > 0) {
    data.append(buf, static_cast<size_t>(in->gcount()));
  }
  if (in->bad()) return absl::InternalError("cannot read standard input");
  return data;
}

// Whether `head`, the first bytes read so far, can still start a PNG or a
// JPEG.
bool MayBePngOrJpeg(absl::string_view head) {
  for (absl::string_view signature : {kPngSignature, kJpegSignature}) {
    const size_t n = std::min(head.size(), signature.size());
    if (head.substr(0, n) == signature.substr(0, n)) return true;
  }
  return false;
}

// Whether `head` (a file's first bytes) starts as a movie does: MP4 and
// QuickTime (a box type at byte 4; HEIF and AVIF are named as images before
// this is asked), Matroska and WebM, AVI, MPEG-TS, MPEG-PS, FLV.
bool LooksLikeMovie(absl::string_view head) {
  if (head.size() >= 8) {
    const absl::string_view box = head.substr(4, 4);
    if (box == "ftyp" || box == "moov" || box == "mdat" || box == "wide" ||
        box == "free") {
      return true;
    }
  }
  if (absl::StartsWith(head, "\x1a\x45\xdf\xa3") ||
      absl::StartsWith(head, "FLV") ||
      absl::StartsWith(head, absl::string_view("\0\0\x01\xba", 4))) {
    return true;
  }
  if (absl::StartsWith(head, "RIFF") && head.size() >= 12 &&
      head.substr(8, 3) == "AVI") {
    return true;
  }
  return head.size() > 188 && head[0] == 0x47 && head[188] == 0x47;
}

// `what` (its bytes: `data`) is not a PNG or JPEG, naming its format where
// that is known.
absl::Status NotPngOrJpeg(const std::string& what, absl::string_view data) {
  if (data.empty()) return absl::InvalidArgumentError(what + " is empty");
  if (absl::string_view kind = OtherImageKind(data); !kind.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " is a ", kind,
                     " image; the server takes PNG or JPEG: convert it first"));
  }
  if (LooksLikeMovie(data)) {
    return absl::InvalidArgumentError(
        absl::StrCat(what,
                     " is a movie, not a PNG or JPEG image; stylize it with "
                     "stylizer video"));
  }
  return absl::InvalidArgumentError(
      absl::StrCat(what, " is not a PNG or JPEG image"));
}

// The bytes of descriptor `fd`, in slices that `stop` ends, refused as soon
// as its first bytes cannot start a PNG or JPEG: a movie or a device given
// by mistake was read whole into memory first (/dev/zero without end), and
// Ctrl-C waited for the read.
absl::StatusOr<std::string> ReadImageBytes(int fd, const std::string& what,
                                           const std::atomic<bool>& stop) {
  std::string data;
  char buf[1 << 16];
  while (true) {
    absl::StatusOr<size_t> got = ReadSome(fd, buf, sizeof(buf), stop, what);
    if (!got.ok()) return got.status();
    if (*got == 0) return data;
    data.append(buf, *got);
    if (!MayBePngOrJpeg(data)) return NotPngOrJpeg(what, data);
  }
}

// The bytes of `input` (a file, or "-": standard input), checked locally to
// be a PNG or JPEG.
absl::StatusOr<std::string> ReadImage(const std::string& input,
                                      const CommandIo& io,
                                      const std::atomic<bool>& stop) {
  const bool from_stdin = input == kStdioName;
  const std::string what = from_stdin ? "standard input" : input;
  absl::StatusOr<std::string> data;
  if (from_stdin && io.in_fd < 0) {
    data = ReadAll(io, stop);  // a stream without a descriptor (tests)
  } else if (from_stdin) {
    data = ReadImageBytes(io.in_fd, what, stop);
  } else {
    absl::StatusOr<int> fd = OpenForReading(input);
    if (!fd.ok()) return fd.status();
    data = ReadImageBytes(*fd, what, stop);
    close(*fd);
  }
  if (!data.ok()) return data.status();
  if (!IsPngOrJpeg(*data)) return NotPngOrJpeg(what, *data);
  return data;
}

// A stylized image as the server sent it is written as it is: bytes that
// are not the format asked for (a broken or impostor server) would make a
// file that looks done and is not.
absl::Status CheckServedImage(const std::string& bytes, ImageFormat format,
                              uint32_t output_index) {
  const bool jpeg = format == stylizer::v1::IMAGE_FORMAT_JPEG;
  if (absl::StartsWith(bytes, jpeg ? kJpegSignature : kPngSignature)) {
    return absl::OkStatus();
  }
  return absl::InternalError(absl::StrCat(
      "the server returned output ", output_index, " as ", bytes.size(),
      " bytes that are not a ", jpeg ? "JPEG" : "PNG",
      " image; nothing was written for this input"));
}

// Stylizes one image (`data`) in one style and writes it to `out` as
// `format` (PNG or JPEG).
absl::Status StylizeToStream(StylizerClient& client, std::string data,
                             const ResolvedStyle& style, ImageFormat format,
                             std::ostream* out) {
  stylizer::v1::StylizeImageRequest request;
  request.mutable_image()->set_encoded(std::move(data));
  *request.add_styles() = style.style;
  request.set_output_format(format);
  request.set_preserve_color(absl::GetFlag(FLAGS_preserve_color));
  request.set_max_side(static_cast<uint32_t>(absl::GetFlag(FLAGS_max_side)));
  auto response = client.StylizeImage(request);
  if (!response.ok()) return response.status();
  if (response->images_size() != 1 ||
      !response->images(0).image().has_encoded()) {
    return absl::InternalError(absl::StrCat(
        "the server returned ", response->images_size(),
        " images for one style"));
  }
  const std::string& bytes = response->images(0).image().encoded();
  if (absl::Status s = CheckServedImage(bytes, format, 0); !s.ok()) return s;
  errno = 0;
  out->write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  out->flush();
  if (!out->good()) return WriteFailed("standard output", errno);
  return absl::OkStatus();
}

// One input's call and files (`data`: its bytes); the paths written.
absl::StatusOr<std::vector<std::string>> StylizeOne(
    StylizerClient& client, std::string data,
    const std::vector<ResolvedStyle>& styles, const Plan& plan) {
  stylizer::v1::StylizeImageRequest request;
  request.mutable_image()->set_encoded(std::move(data));
  for (const auto& s : styles) *request.add_styles() = s.style;
  request.set_output_format(plan.format);
  request.set_preserve_color(absl::GetFlag(FLAGS_preserve_color));
  request.set_max_side(static_cast<uint32_t>(absl::GetFlag(FLAGS_max_side)));
  auto response = client.StylizeImage(request);
  if (!response.ok()) return response.status();
  if (response->images_size() != static_cast<int>(styles.size())) {
    return absl::InternalError(
        absl::StrCat("the server returned ", response->images_size(),
                     " images for ", styles.size(), " styles"));
  }
  // Write every image under a temporary name, then rename them all.
  std::string made_dir;
  if (absl::Status s = EnsureDirectory(plan.dir, &made_dir); !s.ok()) {
    return s;
  }
  std::vector<std::unique_ptr<AtomicFile>> files(styles.size());
  absl::Status status;
  for (const auto& image : response->images()) {
    const uint32_t i = image.output_index();
    if (i >= files.size() || files[i] != nullptr || !image.image().has_encoded()) {
      status = absl::InternalError(absl::StrCat(
          "the server returned an unexpected image (output ", i, ")"));
      break;
    }
    status = CheckServedImage(image.image().encoded(), plan.format, i);
    if (!status.ok()) break;
    auto file = AtomicFile::Create(plan.paths[i]);
    if (!file.ok()) {
      status = file.status();
      break;
    }
    files[i] = *std::move(file);
    status = files[i]->Append(image.image().encoded());
    if (!status.ok()) break;
  }
  if (status.ok()) {
    std::vector<AtomicFile*> in_order;
    for (auto& file : files) in_order.push_back(file.get());
    status = CommitAll(in_order);
  }
  if (!status.ok()) {
    files.clear();
    RemoveMadeDirectories(plan.dir, made_dir);
    return status;
  }
  return plan.paths;
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
  std::vector<Plan> plans;
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
