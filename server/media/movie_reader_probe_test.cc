// The probe of MovieReader::Open decodes a few frames of the input: it must
// refuse a frame over the pixel limit before allocating one. This binary
// watches every aligned allocation (FFmpeg's av_malloc uses posix_memalign)
// by interposing posix_memalign, so it is a test binary of its own.
#include <dlfcn.h>

#include <atomic>
#include <cstdlib>
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

TEST(MovieReaderProbeTest, AHugeFrameIsRefusedBeforeItIsAllocated) {
  av_log_set_level(AV_LOG_QUIET);
  const std::string dir = testing::MakeTempDir("movie-reader-probe-test");
  const std::string path = absl::StrCat(dir, "/huge.mkv");
  // 4096x2304: one 9.4 MB luma plane; flat colour, so the file is tiny.
  ASSERT_TRUE(testing::MakeMovie("-f lavfi -i color=c=gray:s=4096x2304:r=2:d=1 "
                                 "-c:v libx264 -preset ultrafast -pix_fmt "
                                 "yuv420p",
                                 path)
                  .ok());
  auto bytes = testing::ReadFile(path);
  ASSERT_TRUE(bytes.ok());
  ASSERT_LT(bytes->size(), size_t{1} << 20);
  auto spool = Spool::Create({});
  ASSERT_TRUE(spool.ok());
  ASSERT_TRUE((*spool)->Append(*bytes).ok());
  (*spool)->Finish();

  MovieReader::Options options;
  options.max_decode_pixels = 1920 * 1080;
  g_largest = 0;
  g_watching = true;
  auto reader = MovieReader::Open(spool->get(), options);
  g_watching = false;
  ASSERT_FALSE(reader.ok());
  EXPECT_EQ(reader.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(reader.status().message()),
              ::testing::HasSubstr("4096x2304"));
  // Demuxer buffers are far smaller than one plane of such a frame.
  EXPECT_LT(g_largest.load(), size_t{8} << 20)
      << "the probe allocated a buffer of " << g_largest.load() << " bytes";
}

}  // namespace
}  // namespace media
}  // namespace stylizer
