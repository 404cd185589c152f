// The stylized segments opened for a join, and the source's frame durations
// the join gives their frames; see movie_join_internal.h.
#include <cstdint>
#include <cstring>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
}

#include "absl/strings/str_cat.h"
#include "client/movie_join_internal.h"
#include "client/movie_packets.h"

namespace stylizer::client {

absl::StatusOr<StylizedPart> OpenPart(const Segment& segment,
                                      const std::string& path) {
  StylizedPart part;
  int64_t min_pts = AV_NOPTS_VALUE;
  {
    auto scan = OpenInput(path);
    if (!scan.ok()) return scan.status();
    const int v = BestVideo(scan->get());
    if (v < 0) {
      return absl::InternalError(
          absl::StrCat("a stylized segment has no video: ", path));
    }
    media::AvPacketPtr p(av_packet_alloc());
    if (p == nullptr) return absl::ResourceExhaustedError("out of memory");
    while (true) {
      auto more = NextPacket(scan->get(), v, p.get());
      if (!more.ok()) return more.status();
      if (!*more) break;
      if (p->pts != AV_NOPTS_VALUE &&
          (min_pts == AV_NOPTS_VALUE || p->pts < min_pts)) {
        min_pts = p->pts;
      }
      part.times.emplace_back(p->pts, p->dts);
      av_packet_unref(p.get());
    }
  }
  auto input = OpenInput(path);
  if (!input.ok()) return input.status();
  part.input = *std::move(input);
  part.video = BestVideo(part.input.get());
  const int64_t want = av_rescale_q(segment.first_pts,
                                    AVRational{segment.tb_num, segment.tb_den},
                                    part.time_base());
  part.shift = min_pts == AV_NOPTS_VALUE ? 0 : min_pts - want;
  return part;
}

absl::Status CheckPartsAlike(const std::vector<StylizedPart>& parts) {
  const AVCodecParameters* a =
      parts[0].input->streams[parts[0].video]->codecpar;
  for (size_t i = 1; i < parts.size(); ++i) {
    const AVCodecParameters* b =
        parts[i].input->streams[parts[i].video]->codecpar;
    if (a->codec_id != b->codec_id || a->width != b->width ||
        a->height != b->height || a->extradata_size != b->extradata_size ||
        (a->extradata_size > 0 &&
         std::memcmp(a->extradata, b->extradata, a->extradata_size) != 0)) {
      return absl::InternalError(
          "the replicas encoded the segments differently (different server "
          "versions or settings?); run without --split");
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unordered_map<int64_t, int64_t>> SourceFrameDurations(
    const std::string& source, int video) {
  std::unordered_map<int64_t, int64_t> durations;
  auto scan = OpenInput(source);
  if (!scan.ok()) return scan.status();
  media::AvPacketPtr p(av_packet_alloc());
  if (p == nullptr) return absl::ResourceExhaustedError("out of memory");
  while (true) {
    auto more = NextPacket(scan->get(), video, p.get());
    if (!more.ok()) return more.status();
    if (!*more) break;
    if (p->pts != AV_NOPTS_VALUE && p->duration > 0) {
      durations[p->pts] = p->duration;
    }
    av_packet_unref(p.get());
  }
  return durations;
}

}  // namespace stylizer::client
