#include "server/media/audio_copy_rule.h"

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
}

namespace stylizer {
namespace media {

bool CanCopyAudio(bool matroska, AVCodecID codec) {
  if (!matroska) {
    switch (codec) {
      case AV_CODEC_ID_AAC:
      case AV_CODEC_ID_MP3:
      case AV_CODEC_ID_OPUS:
      case AV_CODEC_ID_AC3:
      case AV_CODEC_ID_EAC3:
      case AV_CODEC_ID_ALAC:
        break;
      default:
        return false;
    }
  }
  const AVOutputFormat* format =
      av_guess_format(matroska ? "matroska" : "mp4", nullptr, nullptr);
  return format != nullptr &&
         avformat_query_codec(format, codec, FF_COMPLIANCE_NORMAL) == 1;
}

bool MuxerTakesAudio(bool matroska, const AVCodecParameters& parameters) {
  AVFormatContext* out = nullptr;
  if (avformat_alloc_output_context2(&out, nullptr,
                                     matroska ? "matroska" : "mp4",
                                     nullptr) < 0) {
    return false;
  }
  bool taken = false;
  AVStream* stream = avformat_new_stream(out, nullptr);
  if (stream != nullptr &&
      avcodec_parameters_copy(stream->codecpar, &parameters) >= 0 &&
      avio_open_dyn_buf(&out->pb) >= 0) {
    stream->codecpar->codec_tag = 0;
    stream->time_base = AVRational{1, parameters.sample_rate > 0
                                          ? parameters.sample_rate
                                          : 48000};
    AVDictionary* options = nullptr;
    if (!matroska) {
      av_dict_set(&options, "movflags", kServerMp4Flags, 0);
    }
    taken = avformat_write_header(out, &options) >= 0;
    av_dict_free(&options);
  }
  if (out->pb != nullptr) {
    uint8_t* bytes = nullptr;
    avio_close_dyn_buf(out->pb, &bytes);
    av_free(bytes);
    out->pb = nullptr;
  }
  avformat_free_context(out);
  return taken;
}

bool CopiesAudio(bool matroska, const AVCodecParameters& parameters) {
  return CanCopyAudio(matroska, parameters.codec_id) &&
         MuxerTakesAudio(matroska, parameters);
}

}  // namespace media
}  // namespace stylizer
