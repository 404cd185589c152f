// Cost of media::HdrToSdr::Convert (HDR frames tone-mapped to SDR BT.709 on
// the decoder thread of a video job) on one frame of common sizes, from the
// 16-bit RGB planes swscale gives: one thread, one pass, no allocation.
#include <cstdint>
#include <random>
#include <vector>

#include "benchmark/benchmark.h"
#include "server/media/hdr_to_sdr.h"

namespace stylizer {
namespace {

void BM_HdrToSdr(benchmark::State& state) {
  const media::HdrToSdr::Transfer transfer =
      state.range(2) == 0 ? media::HdrToSdr::Transfer::kPq
                          : media::HdrToSdr::Transfer::kHlg;
  const media::HdrToSdr tone_map(transfer, AVCOL_PRI_BT2020, 1000);
  const size_t pixels = static_cast<size_t>(state.range(0)) * state.range(1);
  std::mt19937 rng(1);
  std::vector<uint16_t> planes[3];
  for (std::vector<uint16_t>& plane : planes) {
    plane.resize(pixels);
    for (uint16_t& v : plane) v = static_cast<uint16_t>(rng());
  }
  std::vector<uint8_t> out(3 * pixels);
  for (auto _ : state) {
    tone_map.Convert(planes[0].data(), planes[1].data(), planes[2].data(),
                     pixels, out.data());
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * pixels);
}
BENCHMARK(BM_HdrToSdr)
    ->ArgNames({"w", "h", "hlg"})
    ->Args({1280, 720, 0})
    ->Args({1920, 1080, 0})
    ->Args({3840, 2160, 0})
    ->Args({1920, 1080, 1})
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace stylizer
