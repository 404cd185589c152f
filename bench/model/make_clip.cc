// Writes a synthetic test movie (moving gradients, rings and a bar; H.264 in
// MP4 through the server's own MovieWriter, no ffmpeg command line) so that
// scripts/gpu-check.sh can run whole-movie jobs on a machine that has only
// the bundle.
//   make_clip --out clip.mp4 --size 1920x1080 --seconds 20 --fps 30
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "server/media/movie_writer.h"

extern "C" {
#include <libavformat/avformat.h>
#include <libavutil/log.h>
}

ABSL_FLAG(std::string, out, "clip.mp4", "output file (fragmented MP4)");
ABSL_FLAG(std::string, size, "1920x1080", "WxH (even)");
ABSL_FLAG(double, seconds, 20, "length");
ABSL_FLAG(int, fps, 30, "frame rate");
ABSL_FLAG(int, crf, 23, "x264 constant rate factor");

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  av_log_set_level(AV_LOG_ERROR);
  std::vector<std::string> wh = absl::StrSplit(absl::GetFlag(FLAGS_size), 'x');
  int w = 0, h = 0;
  const int fps = absl::GetFlag(FLAGS_fps);
  if (wh.size() != 2 || !absl::SimpleAtoi(wh[0], &w) ||
      !absl::SimpleAtoi(wh[1], &h) || w < 2 || h < 2 || w % 2 || h % 2 ||
      fps < 1) {
    std::cerr << "make_clip: --size must be WxH (even, >= 2) and --fps >= 1\n";
    return 2;
  }
  // MovieWriter takes time base and frame rate from an input stream: a
  // stream of an unused format context describes the synthetic input.
  AVFormatContext* fmt = avformat_alloc_context();
  AVStream* in = avformat_new_stream(fmt, nullptr);
  in->time_base = AVRational{1, fps};
  in->avg_frame_rate = in->r_frame_rate = AVRational{fps, 1};
  in->codecpar->codec_type = AVMEDIA_TYPE_VIDEO;
  in->codecpar->width = w;
  in->codecpar->height = h;
  std::ofstream file(absl::GetFlag(FLAGS_out), std::ios::binary);
  stylizer::media::MovieWriter::Options o;
  o.width = w;
  o.height = h;
  o.video_in = in;
  o.crf = absl::GetFlag(FLAGS_crf);
  o.on_bytes = [&](absl::string_view bytes) {
    file.write(bytes.data(), bytes.size());
    return file ? absl::OkStatus()
                : absl::InternalError("cannot write the clip");
  };
  auto writer = stylizer::media::MovieWriter::Create(o);
  if (!writer.ok()) {
    std::cerr << "make_clip: " << writer.status() << "\n";
    return 1;
  }
  const int frames = static_cast<int>(absl::GetFlag(FLAGS_seconds) * fps);
  stylizer::RgbFrame frame;
  frame.width = w;
  frame.height = h;
  frame.pixels.resize(static_cast<size_t>(w) * h * 3);
  for (int f = 0; f < frames; ++f) {
    const double t = static_cast<double>(f) / fps;
    uint8_t* p = frame.pixels.data();
    for (int y = 0; y < h; ++y) {
      for (int x = 0; x < w; ++x) {
        const double u = static_cast<double>(x) / w,
                     v = static_cast<double>(y) / h;
        const double r = std::hypot(u - 0.5 - 0.2 * std::sin(t), v - 0.5);
        const bool bar = std::fmod(u + 0.1 * t, 1.0) > 0.4 &&
                         std::fmod(u + 0.1 * t, 1.0) < 0.45;
        *p++ = static_cast<uint8_t>(255 * u);
        *p++ = static_cast<uint8_t>(127.5 + 127.5 * std::sin(40 * r - 3 * t));
        *p++ = bar ? 240 : static_cast<uint8_t>(255 * v);
      }
    }
    if (absl::Status s = (*writer)->WriteVideo(frame, f, 1); !s.ok()) {
      std::cerr << "make_clip: " << s << "\n";
      return 1;
    }
  }
  if (absl::Status s = (*writer)->Finish(); !s.ok()) {
    std::cerr << "make_clip: " << s << "\n";
    return 1;
  }
  avformat_free_context(fmt);
  std::printf("make_clip: %d frames of %dx%d at %d fps, %llu bytes\n", frames,
              w, h, fps, static_cast<unsigned long long>((*writer)->bytes()));
  return 0;
}
