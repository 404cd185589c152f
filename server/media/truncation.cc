// The truncation rule; see truncation.h.
#include "server/media/truncation.h"

#include <algorithm>
#include <cstring>

extern "C" {
#include <libavutil/avstring.h>
#include <libavutil/intreadwrite.h>
}

namespace stylizer {
namespace media {

namespace {

// The frame count of an APNG's acTL chunk, which FFmpeg's demuxer keeps in
// the stream's extradata with the other chunks before the first frame
// (each: length, type, data, CRC); 0 if there is none.
int64_t ApngDeclaredFrames(const AVCodecParameters* par) {
  const uint8_t* data = par->extradata;
  const int size = par->extradata_size;
  for (int i = 4; data != nullptr && i + 8 <= size; ++i) {
    if (std::memcmp(data + i, "acTL", 4) == 0 && AV_RB32(data + i - 4) == 8) {
      return AV_RB32(data + i + 4);
    }
  }
  return 0;
}

}  // namespace

int64_t IndexedFrames(const AVFormatContext* format, AVStream* video) {
  if (av_match_name("apng", format->iformat->name)) {
    return ApngDeclaredFrames(video->codecpar);
  }
  if (video->nb_frames <= 0) return 0;
  if (av_match_name("avi", format->iformat->name)) {
    const int entries = avformat_index_get_entries_count(video);
    const AVIndexEntry* last =
        entries > 0 ? avformat_index_get_entry(video, entries - 1) : nullptr;
    if (last != nullptr && last->timestamp + 1 >= video->nb_frames) {
      return std::min<int64_t>(video->nb_frames, entries);
    }
    return video->nb_frames;
  }
  if (!av_match_name("mov", format->iformat->name)) return video->nb_frames;
  int64_t shown = 0;
  const int entries = avformat_index_get_entries_count(video);
  for (int i = 0; i < entries; ++i) {
    const AVIndexEntry* entry = avformat_index_get_entry(video, i);
    if (entry != nullptr && !(entry->flags & AVINDEX_DISCARD_FRAME)) ++shown;
  }
  return std::min(video->nb_frames, shown);
}

double ContainerEndSeconds(const AVFormatContext* format) {
  if (format->duration == AV_NOPTS_VALUE || format->duration <= 0) return 0;
  double end = static_cast<double>(format->duration) / AV_TIME_BASE;
  // Matroska's segment duration and MP4's movie duration (mvhd, mehd) count
  // from 0, an empty edit included; FFmpeg's own, from the first timestamp.
  if (format->start_time != AV_NOPTS_VALUE &&
      !av_match_name("matroska", format->iformat->name) &&
      !av_match_name("mov", format->iformat->name)) {
    end += static_cast<double>(format->start_time) / AV_TIME_BASE;
  }
  return end;
}

bool TooFewFrames(int64_t indexed, int64_t read) {
  return indexed > 0 && read < indexed - std::max<int64_t>(2, indexed / 50);
}

bool TooFewSeconds(double declared_seconds, double missing_seconds) {
  return declared_seconds > 0 &&
         missing_seconds > std::max(1.0, 0.05 * declared_seconds);
}

}  // namespace media
}  // namespace stylizer
