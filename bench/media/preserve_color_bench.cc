// Cost of media::PreserveColor (the preserve_color option's luminance
// transfer) on one frame of common sizes, in place on a stylized frame as the
// server runs it: one thread, one pass, no allocation.
#include <cstdint>
#include <random>
#include <vector>

#include "benchmark/benchmark.h"
#include "server/media/preserve_color.h"

namespace stylizer {
namespace {

std::vector<uint8_t> Noise(size_t bytes, unsigned seed) {
  std::mt19937 rng(seed);
  std::vector<uint8_t> v(bytes);
  for (uint8_t& b : v) b = static_cast<uint8_t>(rng());
  return v;
}

void BM_PreserveColor(benchmark::State& state) {
  const size_t pixels = static_cast<size_t>(state.range(0)) * state.range(1);
  const std::vector<uint8_t> input = Noise(3 * pixels, 1);
  const std::vector<uint8_t> styled = Noise(3 * pixels, 2);
  std::vector<uint8_t> out = styled;
  for (auto _ : state) {
    // Rerunning on its own output costs the same as on a fresh frame (the
    // loop has no data-dependent branches) and keeps the copy out of the
    // timing.
    media::PreserveColor(input.data(), out.data(), pixels);
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * 6 *
                          pixels);
}
BENCHMARK(BM_PreserveColor)
    ->Args({640, 360})
    ->Args({1280, 720})
    ->Args({1920, 1080})
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace stylizer
