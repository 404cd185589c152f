// `stylizer frames --size=WxH --styles=NAME`: raw RGB24 frames of WxH from
// standard input, stylized one by one over a StylizeFrames stream, written in
// order to standard output as raw RGB24 frames of the same size, each as soon
// as it comes back. For live sources (a camera through ffmpeg) whose frames
// cannot wait for a container's fragment: latency is the frames in flight.
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "absl/flags/flag.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"
#include "absl/time/clock.h"
#include "client/byte_source.h"
#include "client/commands.h"
#include "client/interrupt.h"
#include "client/output_files.h"
#include "client/rpc_errors.h"
#include "grpcpp/client_context.h"
#include "server/service/retry_info.h"

namespace stylizer::client {
namespace {

using stylizer::v1::StylizeFramesRequest;
using stylizer::v1::StylizeFramesResponse;

// The frames sent and not yet answered, at most `limit`: the reader of
// standard input waits for room, so a fast source cannot run ahead of the
// server by more than that.
class InFlight {
 public:
  explicit InFlight(int limit) : limit_(limit) {}
  // Waits for room; false once Close() was called.
  bool Acquire() {
    std::unique_lock<std::mutex> lock(mu_);
    room_.wait(lock, [&] { return closed_ || count_ < limit_; });
    if (closed_) return false;
    ++count_;
    return true;
  }
  void Release() {
    std::lock_guard<std::mutex> lock(mu_);
    --count_;
    room_.notify_all();
  }
  void Close() {
    std::lock_guard<std::mutex> lock(mu_);
    closed_ = true;
    room_.notify_all();
  }

 private:
  const int limit_;
  std::mutex mu_;
  std::condition_variable room_;
  int count_ = 0;
  bool closed_ = false;
};

// Reads one frame of `size` bytes into `buffer`; returns the bytes read, fewer
// only where the input ended. With a descriptor it reads that with ReadSome,
// which gives up once `stop` is set (the call ended): a read() blocked on a
// silent source could not be interrupted, and the command would wait for a
// frame that may never come.
absl::StatusOr<size_t> ReadFrame(const CommandIo& io,
                                 const std::atomic<bool>& stop, char* buffer,
                                 size_t size) {
  if (io.in_fd < 0) {
    io.in->read(buffer, static_cast<std::streamsize>(size));
    if (io.in->bad()) return absl::InternalError("cannot read standard input");
    return static_cast<size_t>(io.in->gcount());
  }
  size_t got = 0;
  while (got < size) {
    absl::StatusOr<size_t> n =
        ReadSome(io.in_fd, buffer + got, size - got, stop, "standard input");
    if (!n.ok()) return n.status();
    if (*n == 0) break;  // the end of the input
    got += *n;
  }
  return got;
}

// The frames in flight by default: enough to keep a batch of the server's
// device busy while the next frame is read, few enough that the output
// stays within a few frames of the input.
constexpr int kDefaultFramesInFlight = 4;

}  // namespace

absl::Status RunFrames(const Invocation& inv, const CommandIo& io) {
  if (!inv.args.empty()) {
    return UsageError(
        "usage: stylizer frames --size=WxH --styles=NAME "
        "[--concurrency=FRAMES_IN_FLIGHT] < raw-rgb24 > raw-rgb24");
  }
  // No default: raw frames carry no size, and a wrong one (640x360, bench's
  // default, taken for 1280x720 input) scrambled every frame without an
  // error.
  if (absl::GetFlag(FLAGS_size).empty()) {
    return UsageError(
        "frames needs --size=WxH, the size of the raw RGB24 frames it reads");
  }
  int width = 0;
  int height = 0;
  if (absl::Status s = ParseSize(absl::GetFlag(FLAGS_size), &width, &height);
      !s.ok()) {
    return s;
  }
  const int in_flight_flag = absl::GetFlag(FLAGS_concurrency);
  if (in_flight_flag < 0 || in_flight_flag > 64) {
    return UsageError(
        "--concurrency (frames in flight) must be within 1..64 (0: the "
        "default, 4)");
  }
  const int in_flight =
      in_flight_flag > 0 ? in_flight_flag : kDefaultFramesInFlight;
  if (absl::GetFlag(FLAGS_styles).empty()) {
    return UsageError("frames needs --styles=NAME (one style or one blend)");
  }
  // frames takes no file: CheckStdinUsable's advice (name the file) is not
  // for it.
  if (io.in != nullptr && io.in_is_tty) {
    return UsageError(
        "frames reads raw pictures from standard input, which is a "
        "terminal; pipe them in (ffmpeg ... -f rawvideo -pix_fmt rgb24 - | "
        "stylizer frames ...)");
  }
  if (absl::Status s = CheckStdinUsable(io); !s.ok()) return s;
  if (io.out_is_tty) {
    return UsageError(
        "frames writes raw pictures to standard output, which is a "
        "terminal; pipe it to a program (ffplay, ffmpeg) or a file");
  }
  auto client = ConnectFromFlags();
  if (!client.ok()) return client.status();
  auto styles = ResolveStyles(**client, "");
  if (!styles.ok()) return styles.status();
  if (styles->size() != 1) {
    return UsageError(absl::StrCat(
        "frames writes one stylized stream; --styles names ", styles->size(),
        " styles (pick one, or a blend such as klimt:0.7+mosaic:0.3)"));
  }

  const size_t frame_bytes = static_cast<size_t>(width) * height * 3;
  grpc::ClientContext context;
  auto stream = (*client)->OpenFrameStream(&context);
  // Ctrl-C ends the stream; the frames already written stay.
  CancelOnInterrupt on_interrupt([&context] { context.TryCancel(); });

  InFlight window(in_flight);
  std::atomic<bool> call_ended{false};
  size_t leftover = 0;  // bytes of a last, incomplete frame
  absl::Status read_status;
  // Frames handed to the stream (counted before each Write, so an answer
  // never comes before its count), and whether the input's end was sent:
  // an OK end of the stream before either is answered lost frames.
  std::atomic<uint64_t> sent{0};
  bool writes_done = false;
  std::thread sender([&] {
    std::string rgb(frame_bytes, '\0');
    for (uint64_t sequence = 0;; ++sequence) {
      absl::StatusOr<size_t> got =
          ReadFrame(io, call_ended, rgb.data(), frame_bytes);
      if (call_ended.load()) return;  // Finish() says why
      if (!got.ok()) {
        read_status = got.status();
        break;
      }
      if (*got < frame_bytes) {
        leftover = *got;
        break;
      }
      if (!window.Acquire()) return;  // the call ended
      StylizeFramesRequest request;
      request.set_sequence(sequence);
      if (sequence == 0) *request.add_styles() = styles->front().style;
      request.set_output_format(stylizer::v1::IMAGE_FORMAT_RAW);
      auto* raw = request.mutable_image()->mutable_raw();
      raw->set_width(width);
      raw->set_height(height);
      raw->set_rgb(rgb);
      sent = sequence + 1;
      if (!stream->Write(request)) return;  // Finish() says why
    }
    writes_done = stream->WritesDone();
  });

  const absl::Time start = absl::Now();
  uint64_t frames = 0;
  absl::Status write_status;
  StylizeFramesResponse response;
  while (stream->Read(&response)) {
    if (response.sequence() >= sent.load()) {
      write_status = absl::InternalError(
          absl::StrCat("the server answered frame ", response.sequence(),
                       ", which was not sent (", sent.load(), " were)"));
      context.TryCancel();
      break;
    }
    window.Release();
    if (response.sequence() != frames) {
      write_status = absl::InternalError(
          absl::StrCat("the server answered frame ", response.sequence(),
                       " where frame ", frames, " was due"));
    } else if (response.images_size() != 1 ||
               !response.images(0).image().has_raw() ||
               response.images(0).image().raw().rgb().size() != frame_bytes) {
      write_status = absl::InternalError(
          absl::StrCat("the server's answer to frame ", response.sequence(),
                       " is not one raw ", width, "x", height, " picture"));
    } else if (const auto& raw = response.images(0).image().raw();
               raw.width() != static_cast<uint32_t>(width) ||
               raw.height() != static_cast<uint32_t>(height)) {
      // The same bytes as another picture (32x128 for 64x64) would be
      // written as if it were the frame.
      write_status = absl::InternalError(absl::StrCat(
          "the server's answer to frame ", response.sequence(), " is a ",
          raw.width(), "x", raw.height(), " picture where the frame sent was ",
          width, "x", height));
    } else {
      const std::string& rgb = response.images(0).image().raw().rgb();
      errno = 0;
      io.out->write(rgb.data(), static_cast<std::streamsize>(rgb.size()));
      io.out->flush();
      if (!io.out->good()) {
        write_status = WriteFailed("standard output", errno);
      }
    }
    if (!write_status.ok()) {
      context.TryCancel();
      break;
    }
    ++frames;
  }
  call_ended = true;
  window.Close();
  sender.join();
  const grpc::Status finish = stream->Finish();
  if (!write_status.ok()) return write_status;
  if (!read_status.ok()) return read_status;
  // Our own cancel, at Ctrl-C: said as image and video say it, not as if the
  // server had cancelled.
  if (finish.error_code() == grpc::StatusCode::CANCELLED && Interrupted()) {
    return absl::CancelledError("interrupted");
  }
  if (!finish.ok()) {
    const absl::Status status = (*client)->Convert(finish);
    // One stream, not retried: --retries has no say.
    return Reworded(status, status.code(),
                    absl::StrReplaceAll(status.message(),
                                        {{kRetriesNote,
                                          "; frames does not retry: run it "
                                          "again then"}}));
  }
  // The server ends a stream OK only once the input has ended and every
  // frame is answered: anything less lost frames.
  if (frames < sent.load() || !writes_done) {
    return absl::InternalError(
        absl::StrCat("the server ended the stream after answering ", frames,
                     " of the ", sent.load(), " frames sent",
                     writes_done ? "" : ", before standard input ended",
                     "; the answers written are those frames'"));
  }
  if (absl::GetFlag(FLAGS_progress) != "none") {
    const double seconds = absl::ToDoubleSeconds(absl::Now() - start);
    *io.err << absl::StrFormat("frames: %d of %dx%d in %.1f s (%.1f fps)\n",
                               frames, width, height, seconds,
                               seconds > 0 ? frames / seconds : 0.0);
  }
  if (leftover > 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("standard input ended ", leftover,
                     " bytes into a frame of ", frame_bytes, " (", width, "x",
                     height, " RGB24): is --size the size of the frames? The ",
                     frames, " whole frames before it were written"));
  }
  return absl::OkStatus();
}

}  // namespace stylizer::client
