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

}  // namespace media
}  // namespace stylizer
