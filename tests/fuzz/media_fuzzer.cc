// libFuzzer target over the video pipeline's input side: arbitrary upload
// bytes go through the Spool, MovieReader (demux + decode) and RgbConverter
// exactly as a StylizeVideo job would feed them. Any crash, leak or sanitizer
// report is a bug; errors returned as absl::Status are the expected outcome.
#include <cstddef>
#include <cstdint>

#include "absl/strings/string_view.h"
#include "server/media/frame_convert.h"
#include "server/media/hdr_to_sdr.h"
#include "server/media/movie_reader.h"
#include "tests/fuzz/movie_input.h"

extern "C" {
#include <libavutil/log.h>
}

namespace {

// Keeps one input's work small: a few frames of modest size.
constexpr int kMaxItems = 64;
constexpr int64_t kMaxPixels = 1280 * 720;

void Run(const uint8_t* data, size_t size) {
  using stylizer::media::MovieReader;
  // Two appends: the reader sees the upload arrive in pieces.
  const stylizer::fuzz::MovieInput input = stylizer::fuzz::OpenMovie(
      absl::string_view(reinterpret_cast<const char*>(data), size), 2,
      kMaxPixels);
  if (input.reader == nullptr) return;
  MovieReader& reader = *input.reader;
  const stylizer::media::MovieInfo& info = reader.info();
  auto [width, height] =
      stylizer::media::OutputSize(info.width, info.height, 64);
  // HDR inputs are tone-mapped as the server does it.
  stylizer::media::RgbConverter converter(
      width, height,
      stylizer::media::HdrToSdr::ForStream(*reader.video_stream()));
  for (int i = 0; i < kMaxItems; ++i) {
    auto item = reader.Next();
    if (!item.ok() || item->kind == MovieReader::Item::Kind::kEnd) return;
    if (item->kind == MovieReader::Item::Kind::kVideoFrame) {
      stylizer::RgbFrame rgb;
      (void)converter.Convert(*item->frame, &rgb);
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv) {
  av_log_set_level(AV_LOG_QUIET);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Run(data, size);
  return 0;
}
