#include "client/movie_packets.h"

#include <cstring>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "server/media/aac_adts.h"

namespace stylizer::client {
namespace {

// Gives `out` the sample aspect ratio players see in `in`: the container's,
// else the bitstream's. The muxers refuse a stream whose two differ (as
// after `ffmpeg -c copy -aspect`), so both get it.
void CopySampleAspectRatio(const AVStream* in, AVStream* out) {
  const AVRational sar =
      av_guess_sample_aspect_ratio(nullptr, const_cast<AVStream*>(in), nullptr);
  out->sample_aspect_ratio = sar;
  out->codecpar->sample_aspect_ratio = sar;
}

}  // namespace

absl::StatusOr<media::AvInputPtr> OpenInput(const std::string& path) {
  AVFormatContext* raw = nullptr;
  int ret = avformat_open_input(&raw, path.c_str(), nullptr, nullptr);
  if (ret < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "cannot open ", path, " as a movie: ", media::AvErrorText(ret)));
  }
  media::AvInputPtr input(raw);
  ret = avformat_find_stream_info(input.get(), nullptr);
  if (ret < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "cannot read the streams of ", path, ": ", media::AvErrorText(ret)));
  }
  return input;
}

int BestVideo(AVFormatContext* f) {
  return av_find_best_stream(f, AVMEDIA_TYPE_VIDEO, -1, -1, nullptr, 0);
}

int BestAudio(AVFormatContext* f, int video) {
  int a = av_find_best_stream(f, AVMEDIA_TYPE_AUDIO, -1, video, nullptr, 0);
  return a >= 0 ? a : -1;
}

absl::Status CopyVideoStreamSetup(const AVStream* in, AVStream* out) {
  int ret = avcodec_parameters_copy(out->codecpar, in->codecpar);
  if (ret < 0) return media::AvError(ret, "copying the video parameters");
  out->codecpar->codec_tag = 0;
  out->time_base = in->time_base;
  out->avg_frame_rate = in->avg_frame_rate;
  out->r_frame_rate = in->r_frame_rate;
  CopySampleAspectRatio(in, out);
  size_t size = 0;
  const uint8_t* matrix =
      av_stream_get_side_data(in, AV_PKT_DATA_DISPLAYMATRIX, &size);
  if (matrix != nullptr && size > 0) {
    uint8_t* copy =
        av_stream_new_side_data(out, AV_PKT_DATA_DISPLAYMATRIX, size);
    if (copy == nullptr) return absl::ResourceExhaustedError("out of memory");
    std::memcpy(copy, matrix, size);
  }
  return absl::OkStatus();
}

absl::Status WritePacket(AVFormatContext* out, AVPacket* p, AVRational from,
                         AVStream* to) {
  av_packet_rescale_ts(p, from, to->time_base);
  p->stream_index = to->index;
  p->pos = -1;
  int ret = av_interleaved_write_frame(out, p);
  if (ret < 0) return media::AvError(ret, "writing a movie");
  return absl::OkStatus();
}

QuietAvLog::QuietAvLog(int most) : level_(av_log_get_level()) {
  if (level_ > most) av_log_set_level(most);
}

QuietAvLog::~QuietAvLog() { av_log_set_level(level_); }

absl::StatusOr<bool> NextPacket(AVFormatContext* f, int index, AVPacket* p) {
  while (true) {
    int ret = av_read_frame(f, p);
    if (ret == AVERROR_EOF) return false;
    if (ret < 0) return media::AvError(ret, "reading a movie");
    if (p->stream_index == index) return true;
    av_packet_unref(p);
  }
}

absl::StatusOr<std::string> AdtsConfig(const std::string& source, int video,
                                       int audio) {
  auto input = OpenInput(source);
  if (!input.ok()) return input.status();
  const AVStream* st = (*input)->streams[audio];
  auto filter = media::AdtsToAsc::Create(*st->codecpar, st->time_base);
  if (!filter.ok()) return filter.status();
  media::AvPacketPtr p(av_packet_alloc());
  if (p == nullptr) return absl::ResourceExhaustedError("out of memory");
  // As media::MovieReader looks: the first audio packet, within the
  // look-ahead counted over the picture's and the sound's packets.
  int packets = 0;
  int64_t bytes = 0;
  while (packets < media::kAdtsLookAheadPackets &&
         bytes < media::kAdtsLookAheadBytes) {
    const int ret = av_read_frame(input->get(), p.get());
    if (ret == AVERROR_EOF) break;
    if (ret < 0) return media::AvError(ret, "reading a movie");
    const int index = p->stream_index;
    if (index == video || index == audio) {
      ++packets;
      bytes += p->size;
    }
    if (index != audio) {
      av_packet_unref(p.get());
      continue;
    }
    absl::Status s = (*filter)->Convert(p.get());
    av_packet_unref(p.get());
    if (!s.ok()) return s;
    if ((*filter)->config().empty()) break;
    return (*filter)->config();
  }
  return absl::NotFoundError("no AAC configuration in the first packets");
}

}  // namespace stylizer::client
