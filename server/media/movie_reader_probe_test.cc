// The probe of MovieReader::Open decodes a few frames of the input: it must
// refuse a frame over the pixel limit before allocating one, and an H.264 or
// HEVC frame over probe_max_pixels it only parses (the probe runs before the
// job is charged for its decoder). This binary
// watches every aligned allocation (FFmpeg's av_malloc uses posix_memalign)
// by interposing posix_memalign, so it is a test binary of its own.
#include <dlfcn.h>

#include <atomic>
#include <cstdlib>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
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

// An H.264 or HEVC frame within the decode limit but over probe_max_pixels:
// the probe parses it and learns its size and pixel format without decoding
// it (decoding took 275 MB at 8192x8192 before the job was charged), and the
// movie is then read whole.
TEST(MovieReaderProbeTest, ALargeH264OrHevcFrameIsOnlyParsedByTheProbe) {
  for (const std::string codec : {"libx264", "libx265"}) {
    SCOPED_TRACE(codec);
    std::unique_ptr<Spool> spool = SpooledMovie(
        "large.ts",
        absl::StrCat("-f lavfi -i color=c=gray:s=", kHugeSize,
                     ":r=2:d=1.5 -c:v ", codec,
                     " -preset ultrafast -pix_fmt yuv420p -x265-params "
                     "log-level=error"));
    ASSERT_NE(spool, nullptr);
    MovieReader::Options options;
    options.probe_max_pixels = 1920 * 1080;
    auto reader = OpenWatched(spool.get(), options);
    ASSERT_TRUE(reader.ok()) << reader.status();
    EXPECT_LT(g_largest.load(), kHugePlane)
        << "the probe allocated a buffer of " << g_largest.load() << " bytes";
    EXPECT_EQ((*reader)->info().width, 4096);
    EXPECT_EQ((*reader)->info().height, 2304);
    EXPECT_EQ((*reader)->info().decoded_frame_bytes,
              static_cast<int64_t>(kHugePlane * 3 / 2));  // 8-bit 4:2:0
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
