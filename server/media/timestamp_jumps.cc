// Joined recordings' timestamps made to follow on; see timestamp_jumps.h.
#include "server/media/timestamp_jumps.h"

extern "C" {
#include <libavutil/avutil.h>
#include <libavutil/mathematics.h>
}

namespace stylizer {
namespace media {
namespace {

// ffmpeg's threshold (fftools: a jump back of more than a tenth of a second).
constexpr int64_t kBackMicros = AV_TIME_BASE / 10;

int64_t ToMicros(int64_t t, AVRational time_base) {
  return av_rescale_q(t, time_base, AV_TIME_BASE_Q);
}

}  // namespace

TimestampJumps::TimestampJumps(int streams, bool enabled)
    : enabled_(enabled), clocks_(streams > 0 ? streams : 0) {}

TimestampJumps::TimestampJumps(int streams, const AVInputFormat* format)
    : TimestampJumps(streams, format != nullptr &&
                                  (format->flags & AVFMT_TS_DISCONT) != 0) {}

void TimestampJumps::Follow(int stream, AVRational time_base,
                            AVPacket* packet) {
  if (!enabled_ || stream < 0 || stream >= static_cast<int>(clocks_.size()) ||
      time_base.num <= 0 || time_base.den <= 0) {
    return;
  }
  const auto shift = [&](int64_t micros) {
    const int64_t ticks = av_rescale_q(micros, AV_TIME_BASE_Q, time_base);
    if (packet->pts != AV_NOPTS_VALUE) packet->pts += ticks;
    if (packet->dts != AV_NOPTS_VALUE) packet->dts += ticks;
  };
  if (offset_ != 0) shift(offset_);
  if (packet->dts == AV_NOPTS_VALUE) return;
  Clock& clock = clocks_[stream];
  int64_t dts = ToMicros(packet->dts, time_base);
  if (clock.last_dts != AV_NOPTS_VALUE && dts + kBackMicros < clock.last_dts) {
    const int64_t delta = dts - (clock.last_dts + clock.step);
    offset_ -= delta;
    shift(-delta);
    dts -= delta;
    ++jumps_;
  }
  if (packet->duration > 0) {
    clock.step = ToMicros(packet->duration, time_base);
  } else if (clock.last_dts != AV_NOPTS_VALUE && dts > clock.last_dts) {
    clock.step = dts - clock.last_dts;
  }
  clock.last_dts = dts;
}

}  // namespace media
}  // namespace stylizer
