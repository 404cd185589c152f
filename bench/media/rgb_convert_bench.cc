// Cost of media::RgbConverter::Convert (a decoded frame to the model's RGB24
// on the decoder thread of a video job) on 1080p frames: 8-bit and 10-bit
// 4:2:0 at full size and downscaled to 640x360, one thread. And of
// media::YuvConverter::Convert (a stylized frame to the encoder's YUV 4:2:0,
// once per output movie) at 1080p and 720p.
#include <cstdint>
#include <random>

#include "benchmark/benchmark.h"
#include "server/media/frame_convert.h"

namespace stylizer {
namespace {

// A 1920x1080 4:2:0 frame of noise, `bits` 8 or 10, tagged BT.709.
media::AvFramePtr NoiseFrame(int bits) {
  media::AvFramePtr frame = media::MakeFrame();
  frame->format = bits == 8 ? AV_PIX_FMT_YUV420P : AV_PIX_FMT_YUV420P10;
  frame->width = 1920;
  frame->height = 1080;
  frame->colorspace = AVCOL_SPC_BT709;
  if (av_frame_get_buffer(frame.get(), 0) < 0) std::abort();
  std::mt19937 rng(1);
  for (int plane = 0; plane < 3; ++plane) {
    const int rows = plane == 0 ? 1080 : 540;
    const int width = plane == 0 ? 1920 : 960;
    for (int y = 0; y < rows; ++y) {
      uint8_t* row = frame->data[plane] + y * frame->linesize[plane];
      for (int x = 0; x < width; ++x) {
        if (bits == 8) {
          row[x] = static_cast<uint8_t>(16 + rng() % 220);
        } else {
          reinterpret_cast<uint16_t*>(row)[x] =
              static_cast<uint16_t>(64 + rng() % 880);
        }
      }
    }
  }
  return frame;
}

void BM_RgbConvert(benchmark::State& state) {
  const media::AvFramePtr frame = NoiseFrame(static_cast<int>(state.range(0)));
  media::RgbConverter converter(static_cast<int>(state.range(1)),
                                static_cast<int>(state.range(2)));
  RgbFrame rgb;
  for (auto _ : state) {
    if (!converter.Convert(*frame, &rgb).ok()) std::abort();
    benchmark::DoNotOptimize(rgb.pixels.data());
    benchmark::ClobberMemory();
  }
}
BENCHMARK(BM_RgbConvert)
    ->ArgNames({"bits", "w", "h"})
    ->Args({8, 1920, 1080})
    ->Args({10, 1920, 1080})
    ->Args({8, 640, 360})
    ->Unit(benchmark::kMillisecond);

// A stylized-looking RGB24 frame: smooth gradients under noise.
RgbFrame NoiseRgb(int width, int height) {
  RgbFrame rgb;
  rgb.width = width;
  rgb.height = height;
  rgb.pixels.resize(static_cast<size_t>(width) * height * 3);
  std::mt19937 rng(1);
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < 3 * width; ++x) {
      rgb.pixels[static_cast<size_t>(y) * width * 3 + x] =
          static_cast<uint8_t>((x * 7 + y * 3) / 5 + rng() % 40);
    }
  }
  return rgb;
}

void BM_YuvConvert(benchmark::State& state) {
  const RgbFrame rgb = NoiseRgb(static_cast<int>(state.range(0)),
                                static_cast<int>(state.range(1)));
  media::YuvConverter converter(rgb.width, rgb.height, AVCOL_SPC_BT709);
  for (auto _ : state) {
    // The encoder drops its reference before the next frame comes, as here.
    absl::StatusOr<media::AvFramePtr> frame = converter.Convert(rgb);
    if (!frame.ok()) std::abort();
    benchmark::DoNotOptimize((*frame)->data[0]);
    benchmark::ClobberMemory();
  }
}
BENCHMARK(BM_YuvConvert)
    ->ArgNames({"w", "h"})
    ->Args({1920, 1080})
    ->Args({1280, 720})
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace stylizer
