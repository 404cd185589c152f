// The writer's own timestamp repairs: frames whose time repeats, goes back
// or is missing (broken muxes, raw streams, joined files) are nudged forward
// instead of failing the job at the encoder with an error the caller cannot
// act on.
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "server/media/movie_writer.h"
#include "server/media/testing/test_movies.h"

extern "C" {
#include <libavformat/avformat.h>
#include <libavutil/log.h>
}

namespace stylizer {
namespace media {
namespace {

// In both containers: Matroska's muxer writes milliseconds, so a nudge of
// one tick of the input's time base (1/10240 s here, 1/90000 s for MPEG-TS)
// was rounded away there, and the nudged frames shared one time.
TEST(MovieWriterTimestampsTest, RepeatedBackwardAndMissingTimesAreNudged) {
  av_log_set_level(AV_LOG_ERROR);
  const std::string dir = testing::MakeTempDir("movie-writer-timestamps");
  const std::string in = dir + "/in.mp4";
  ASSERT_TRUE(testing::MakeMovie("-f lavfi -i testsrc2=size=64x48:rate=10:"
                                 "duration=1 -c:v libx264 -preset ultrafast "
                                 "-pix_fmt yuv420p",
                                 in)
                  .ok());
  AVFormatContext* opened = nullptr;
  ASSERT_EQ(avformat_open_input(&opened, in.c_str(), nullptr, nullptr), 0);
  const auto close = [](AVFormatContext* f) { avformat_close_input(&f); };
  const std::unique_ptr<AVFormatContext, decltype(close)> format(opened, close);
  ASSERT_GE(avformat_find_stream_info(format.get(), nullptr), 0);
  const AVStream* stream = format->streams[0];
  const int64_t step = av_rescale_q(1, AVRational{1, 10}, stream->time_base);
  // Repeated, then missing, then back in time, then on again.
  const std::vector<int64_t> times = {
      0, step, step, AV_NOPTS_VALUE, 2 * step, 5 * step, 6 * step};

  for (const OutputContainer container :
       {OutputContainer::kFragmentedMp4, OutputContainer::kMatroska}) {
    const bool mkv = container == OutputContainer::kMatroska;
    SCOPED_TRACE(mkv ? "Matroska" : "MP4");
    std::string bytes;
    MovieWriter::Options options;
    options.width = 64;
    options.height = 48;
    options.video_in = stream;
    options.container = container;
    options.preset = "ultrafast";
    options.encoder_threads = 1;
    options.on_bytes = [&](absl::string_view piece) {
      bytes.append(piece.data(), piece.size());
      return absl::OkStatus();
    };
    auto writer = MovieWriter::Create(options);
    ASSERT_TRUE(writer.ok()) << writer.status();
    RgbFrame frame;
    frame.width = 64;
    frame.height = 48;
    frame.pixels.assign(64 * 48 * 3, 128);
    for (const int64_t pts : times) {
      absl::Status s = (*writer)->WriteVideo(frame, pts, step);
      ASSERT_TRUE(s.ok()) << "pts " << pts << ": " << s;
    }
    ASSERT_TRUE((*writer)->Finish().ok());
    EXPECT_EQ((*writer)->frames(), static_cast<int64_t>(times.size()));

    const std::string out = dir + (mkv ? "/out.mkv" : "/out.mp4");
    ASSERT_TRUE(testing::WriteFile(out, bytes).ok());
    auto text = testing::RunCommand(absl::StrCat(
        "ffprobe -v error -select_streams v:0 -show_entries frame=pts "
        "-of csv=p=0 '",
        out, "'"));
    ASSERT_TRUE(text.ok()) << text.status();
    std::vector<int64_t> shown;
    for (absl::string_view line : absl::StrSplit(*text, '\n')) {
      int64_t pts = 0;  // a line may end in a comma (side data)
      if (absl::SimpleAtoi(line.substr(0, line.find(',')), &pts)) {
        shown.push_back(pts);
      }
    }
    ASSERT_EQ(shown.size(), times.size()) << *text;
    for (size_t i = 1; i < shown.size(); ++i) {
      EXPECT_GT(shown[i], shown[i - 1]) << *text;
    }
  }
}

}  // namespace
}  // namespace media
}  // namespace stylizer
