// libFuzzer target over the whole movie path of a StylizeVideo job, the job
// queue left out: upload bytes -> Spool -> MovieReader (demux + decode) ->
// RgbConverter -> MovieWriter (x264, muxer, audio copy with ADTS conversion
// or AAC transcode with its resampler). The input's size picks the output
// container (even: fragmented MP4, odd: Matroska). Any crash, leak or
// sanitizer report is a bug; errors returned as absl::Status are expected.
#include <cstddef>
#include <cstdint>
#include <memory>

#include "absl/strings/string_view.h"
#include "server/media/frame_convert.h"
#include "server/media/hdr_to_sdr.h"
#include "server/media/movie_reader.h"
#include "server/media/movie_writer.h"
#include "tests/fuzz/movie_input.h"

extern "C" {
#include <libavutil/log.h>
}

namespace {

// Keeps one input's work small: a few frames of modest size.
constexpr int kMaxItems = 48;
constexpr int64_t kMaxPixels = 1280 * 720;

void Run(const uint8_t* data, size_t size) {
  using stylizer::media::MovieReader;
  using stylizer::media::MovieWriter;
  const stylizer::fuzz::MovieInput input = stylizer::fuzz::OpenMovie(
      absl::string_view(reinterpret_cast<const char*>(data), size), 1,
      kMaxPixels);
  if (input.reader == nullptr) return;
  MovieReader& reader = *input.reader;
  const stylizer::media::MovieInfo& info = reader.info();
  auto [width, height] =
      stylizer::media::OutputSize(info.width, info.height, 32);
  if (width < 2 || height < 2) return;

  MovieWriter::Options w;
  w.container = size % 2 == 0 ? stylizer::media::OutputContainer::kFragmentedMp4
                              : stylizer::media::OutputContainer::kMatroska;
  w.width = width;
  w.height = height;
  // HDR inputs are tone-mapped as the server does it.
  std::shared_ptr<const stylizer::media::HdrToSdr> hdr_to_sdr =
      stylizer::media::HdrToSdr::ForStream(*reader.video_stream());
  w.video_in = reader.video_stream();
  w.sdr_bt709 = hdr_to_sdr != nullptr;
  w.audio_in = reader.audio_stream();
  w.preset = "ultrafast";
  w.encoder_threads = 1;
  w.on_bytes = [](absl::string_view) { return absl::OkStatus(); };
  auto writer = MovieWriter::Create(w);
  if (!writer.ok()) return;

  stylizer::media::RgbConverter converter(width, height, hdr_to_sdr);
  for (int i = 0; i < kMaxItems; ++i) {
    auto item = reader.Next();
    if (!item.ok()) return;
    absl::Status s;
    switch (item->kind) {
      case MovieReader::Item::Kind::kEnd:
        (void)(*writer)->Finish();
        return;
      case MovieReader::Item::Kind::kAudioPacket:
        s = (*writer)->WriteAudio(*item->packet);
        break;
      case MovieReader::Item::Kind::kVideoFrame: {
        stylizer::RgbFrame rgb;
        s = converter.Convert(*item->frame, &rgb);
        // The "stylized" frame is the input itself.
        if (s.ok()) {
          s = (*writer)->WriteVideo(rgb, item->frame->pts,
                                    item->frame->pkt_duration);
        }
        break;
      }
    }
    if (!s.ok()) return;
  }
  (void)(*writer)->Finish();
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
