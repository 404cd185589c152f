// The probe of MovieReader::Open decodes a few frames of the input: it must
// refuse a frame over the pixel limit before allocating one, and an H.264 or
// HEVC frame over probe_max_pixels it only parses (the probe runs before the
// job is charged for its decoder). This binary
// watches every aligned allocation (FFmpeg's av_malloc uses posix_memalign)
// by interposing posix_memalign, so it is a test binary of its own.
#include <dlfcn.h>

#include <atomic>
#include <cstdarg>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/media/av_util.h"
#include "server/media/movie_reader.h"
#include "server/media/testing/test_movies.h"

extern "C" {
#include <libavutil/log.h>
}

namespace {
std::atomic<bool> g_watching{false};
std::atomic<size_t> g_largest{0};
}  // namespace

extern "C" int posix_memalign(void** out, size_t alignment, size_t size) {
  using Real = int (*)(void**, size_t, size_t);
  static Real real = reinterpret_cast<Real>(dlsym(RTLD_NEXT, "posix_memalign"));
  if (g_watching.load(std::memory_order_relaxed)) {
    size_t seen = g_largest.load(std::memory_order_relaxed);
    while (size > seen && !g_largest.compare_exchange_weak(seen, size)) {
    }
  }
  return real(out, alignment, size);
}

namespace stylizer {
namespace media {
namespace {

// Makes `name` (flat colour: tiny files) in a fresh directory with `ffmpeg
// <args>`, and returns it spooled whole.
std::unique_ptr<Spool> SpooledMovie(const std::string& name,
                                    const std::string& args) {
  av_log_set_level(AV_LOG_QUIET);
  const std::string path =
      absl::StrCat(testing::MakeTempDir("movie-reader-probe-test"), "/", name);
  absl::Status made = testing::MakeMovie(args, path);
  EXPECT_TRUE(made.ok()) << made;
  auto bytes = testing::ReadFile(path);
  EXPECT_TRUE(bytes.ok()) << bytes.status();
  EXPECT_LT(bytes.value_or("").size(), size_t{1} << 20);
  auto spool = Spool::Create({});
  EXPECT_TRUE(spool.ok()) << spool.status();
  if (!spool.ok()) return nullptr;
  EXPECT_TRUE((*spool)->Append(bytes.value_or("")).ok());
  (*spool)->Finish();
  return *std::move(spool);
}

// Opens a MovieReader on `spool`, watching the largest allocation.
absl::StatusOr<std::unique_ptr<MovieReader>> OpenWatched(
    Spool* spool, const MovieReader::Options& options) {
  g_largest = 0;
  g_watching = true;
  auto reader = MovieReader::Open(spool, options);
  g_watching = false;
  return reader;
}

// 4096x2304: one 9.4 MB luma plane. Demuxer buffers are far smaller.
constexpr char kHugeSize[] = "4096x2304";
constexpr size_t kHugePlane = size_t{4096} * 2304;

TEST(MovieReaderProbeTest, AHugeFrameIsRefusedBeforeItIsAllocated) {
  std::unique_ptr<Spool> spool = SpooledMovie(
      "huge.mkv", absl::StrCat("-f lavfi -i color=c=gray:s=", kHugeSize,
                               ":r=2:d=1 -c:v libx264 -preset ultrafast "
                               "-pix_fmt yuv420p"));
  ASSERT_NE(spool, nullptr);
  MovieReader::Options options;
  options.max_decode_pixels = 1920 * 1080;
  auto reader = OpenWatched(spool.get(), options);
  ASSERT_FALSE(reader.ok());
  EXPECT_EQ(reader.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(reader.status().message()),
              ::testing::HasSubstr(kHugeSize));
  EXPECT_LT(g_largest.load(), size_t{8} << 20)
      << "the probe allocated a buffer of " << g_largest.load() << " bytes";
}

// The FFmpeg lines the server would log (its callback drops the quiet
// ones: FfmpegLineQuietOnThisThread), errors and warnings only.
std::vector<std::string>* g_logged = nullptr;
void CaptureLogLine(void* avcl, int level, const char* format, va_list args) {
  if (level > AV_LOG_WARNING || FfmpegLineQuietOnThisThread(avcl)) return;
  char line[1024];
  int print_prefix = 1;
  av_log_format_line2(avcl, level, format, args, line, sizeof(line),
                      &print_prefix);
  if (g_logged != nullptr) g_logged->push_back(line);
}

// An H.264 or HEVC frame within the decode limit but over probe_max_pixels:
// the probe parses it and learns its size, pixel format and colours without
// decoding it (decoding took 275 MB at 8192x8192 before the job was
// charged), and the movie is then read whole. The probe's decoders, which
// refuse such frames on purpose, log nothing the server shows: it showed
// "Picture size 4096x2304 exceeds specified max pixel count" and four more
// lines for each frame the probe tried, in the log of a job that went well.
TEST(MovieReaderProbeTest, ALargeH264OrHevcFrameIsOnlyParsedByTheProbe) {
  struct Case {
    std::string codec;
    std::string args;
    int64_t frame_bytes;
    std::string hdr;
  };
  const Case cases[] = {
      {"libx264", "-pix_fmt yuv420p", static_cast<int64_t>(kHugePlane) * 3 / 2,
       ""},
      // 10-bit HDR10: 2 bytes a sample.
      {"libx265",
       "-pix_fmt yuv420p10le -color_trc smpte2084 -color_primaries bt2020 "
       "-colorspace bt2020nc -x265-params log-level=error",
       static_cast<int64_t>(kHugePlane) * 3, "smpte2084"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.codec);
    std::unique_ptr<Spool> spool = SpooledMovie(
        "large.ts", absl::StrCat("-f lavfi -i color=c=gray:s=", kHugeSize,
                                 ":r=2:d=1.5 -c:v ", c.codec,
                                 " -preset ultrafast ", c.args));
    ASSERT_NE(spool, nullptr);
    MovieReader::Options options;
    options.probe_max_pixels = 1920 * 1080;
    std::vector<std::string> logged;
    g_logged = &logged;
    av_log_set_callback(&CaptureLogLine);
    auto reader = OpenWatched(spool.get(), options);
    av_log_set_callback(&av_log_default_callback);
    g_logged = nullptr;
    ASSERT_TRUE(reader.ok()) << reader.status();
    EXPECT_LT(g_largest.load(), kHugePlane)
        << "the probe allocated a buffer of " << g_largest.load() << " bytes";
    EXPECT_THAT(logged, ::testing::IsEmpty());
    EXPECT_EQ((*reader)->info().width, 4096);
    EXPECT_EQ((*reader)->info().height, 2304);
    EXPECT_EQ((*reader)->info().decoded_frame_bytes, c.frame_bytes);
    EXPECT_EQ((*reader)->info().hdr_transfer, c.hdr);
    int frames = 0;
    while (true) {
      absl::StatusOr<MovieReader::Item> item = (*reader)->Next();
      ASSERT_TRUE(item.ok()) << item.status();
      if (item->kind == MovieReader::Item::Kind::kEnd) break;
      if (item->kind == MovieReader::Item::Kind::kVideoFrame) ++frames;
    }
    EXPECT_EQ(frames, 3);
  }
}

// Other decoders forget the frame size when they refuse a frame: their
// probe decodes up to the decode limit, as before, and the size is known.
TEST(MovieReaderProbeTest, OtherCodecsAreProbedUpToTheDecodeLimit) {
  // (MPEG-2 frames are at most 4095 wide.)
  std::unique_ptr<Spool> spool =
      SpooledMovie("large_mpeg2.ts",
                   "-f lavfi -i color=c=gray:s=2560x1440:r=2:d=1 -c:v "
                   "mpeg2video");
  ASSERT_NE(spool, nullptr);
  MovieReader::Options options;
  options.probe_max_pixels = 1920 * 1080;
  auto reader = MovieReader::Open(spool.get(), options);
  ASSERT_TRUE(reader.ok()) << reader.status();
  EXPECT_EQ((*reader)->info().width, 2560);
  EXPECT_EQ((*reader)->info().height, 1440);
}

}  // namespace
}  // namespace media
}  // namespace stylizer
