// What a VideoPipeline's decoder and encoders take in memory, for the job's
// reservation (see video_pipeline.h).
#include <algorithm>
#include <cstdint>
#include <iterator>
#include <thread>

#include "absl/strings/string_view.h"
#include "server/media/video_pipeline.h"

namespace stylizer {
namespace media {
namespace {

// EstimateEncoderBytes: per x264 preset, bytes per output pixel with one
// encoder thread and for each further thread; plus fixed bytes per encoder
// and per thread (x264's contexts and scratch buffers).
struct EncoderCost {
  absl::string_view preset;
  int64_t bytes_per_pixel;
  int64_t bytes_per_pixel_per_thread;
};
constexpr EncoderCost kEncoderCosts[] = {
    {"ultrafast", 45, 15}, {"superfast", 90, 24}, {"veryfast", 140, 24},
    {"faster", 165, 24},   {"fast", 210, 24},     {"medium", 260, 26},
    {"slow", 315, 26},     {"slower", 335, 26},   {"veryslow", 445, 30},
    {"placebo", 670, 30},
};
constexpr int64_t kEncoderFixedBytes = int64_t{6} << 20;
constexpr int64_t kEncoderThreadBytes = int64_t{3} << 19;  // 1.5 MiB

}  // namespace

int64_t VideoPipeline::EstimateDecoderBytes(const MovieInfo& info,
                                            int threads) {
  // FFmpeg's automatic count: a thread per core and one more, at most 16.
  if (threads <= 0) {
    threads = std::min<int>(16, std::thread::hardware_concurrency() + 1);
  }
  constexpr int64_t kMostReferenceFrames = 16;
  // A frame with alpha is composited over white into GBRA planes of its
  // size, held for the job (RgbConverter).
  const int64_t composited =
      info.has_alpha ? int64_t{info.width} * info.height * 4 : 0;
  return info.decoded_frame_bytes * (kMostReferenceFrames + threads + 1) +
         composited;
}

int64_t VideoPipeline::EstimateEncoderBytes(int width, int height,
                                            absl::string_view preset,
                                            int threads) {
  EncoderCost cost = kEncoderCosts[std::size(kEncoderCosts) - 1];
  for (const EncoderCost& c : kEncoderCosts) {
    if (c.preset == preset) cost = c;
  }
  threads = std::max(threads, 1);
  const int64_t pixels = static_cast<int64_t>(width) * height;
  return pixels * (cost.bytes_per_pixel +
                   cost.bytes_per_pixel_per_thread * (threads - 1)) +
         kEncoderFixedBytes + kEncoderThreadBytes * threads;
}

}  // namespace media
}  // namespace stylizer
