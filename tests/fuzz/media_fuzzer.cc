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
#include "server/media/spool.h"

extern "C" {
#include <libavutil/log.h>
}

namespace {

// Keeps one input's work small: a few frames of modest size.
constexpr int kMaxItems = 64;
constexpr int64_t kMaxPixels = 1280 * 720;

void Run(const uint8_t* data, size_t size) {
  using stylizer::media::MovieReader;
  stylizer::media::Spool::Options spool_options;
  spool_options.memory_limit = size + 1;  // never spill to disk
  auto spool = stylizer::media::Spool::Create(spool_options);
  if (!spool.ok()) return;
  // Two appends: the reader sees the upload arrive in pieces.
  absl::string_view bytes(reinterpret_cast<const char*>(data), size);
  (void)(*spool)->Append(bytes.substr(0, size / 2));
  (void)(*spool)->Append(bytes.substr(size / 2));
  (*spool)->Finish();

  MovieReader::Options options;
  options.max_decode_pixels = kMaxPixels;
  options.decoder_threads = 1;
  auto reader = MovieReader::Open(spool->get(), options);
  if (!reader.ok()) return;
  const stylizer::media::MovieInfo& info = (*reader)->info();
  auto [width, height] =
      stylizer::media::OutputSize(info.width, info.height, 64);
  // HDR inputs are tone-mapped as the server does it.
  stylizer::media::RgbConverter converter(
      width, height,
      stylizer::media::HdrToSdr::ForStream(*(*reader)->video_stream()));
  for (int i = 0; i < kMaxItems; ++i) {
    auto item = (*reader)->Next();
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
