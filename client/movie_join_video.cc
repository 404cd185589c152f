// The stylized segments' video as one movie's (JoinedVideo): their packets in
// order, with the times mended; see movie_join_internal.h.
#include <algorithm>
#include <cstdint>
#include <unordered_map>
#include <utility>
#include <vector>

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
}

#include "client/movie_join_internal.h"
#include "client/movie_packets.h"

namespace stylizer::client {
namespace {

// Decode times for the joined video as one encoder would have made them.
// Each segment's encoder starts its decode times before its first frame by
// a delay that depends on the first frames' spacing; after that, an encoder
// with B-frames (x264) gives packet i the i-th smallest presentation time,
// `delay` packets back. That pattern is read off the first segment and
// applied across the whole movie. Empty when the first segment does not
// follow it (then overlapping decode times are only moved up).
std::vector<int64_t> OneEncoderDecodeTimes(
    const std::vector<PacketTimes>& parts, const std::vector<int64_t>& shifts) {
  std::vector<int64_t> pts_all;
  std::vector<int64_t> dts0, pts0;
  for (size_t k = 0; k < parts.size(); ++k) {
    for (const auto& [pts, dts] : parts[k]) {
      if (pts == AV_NOPTS_VALUE || dts == AV_NOPTS_VALUE) return {};
      pts_all.push_back(pts - shifts[k]);
      if (k == 0) {
        pts0.push_back(pts - shifts[k]);
        dts0.push_back(dts - shifts[k]);
      }
    }
  }
  std::vector<int64_t> sorted0 = pts0;
  std::sort(sorted0.begin(), sorted0.end());
  constexpr size_t kMaxDelay = 16;
  for (size_t d = 0; d <= kMaxDelay && d + 2 < dts0.size(); ++d) {
    bool fits = true;
    for (size_t i = d + 1; i < dts0.size() && fits; ++i) {
      fits = dts0[i] == sorted0[i - d];
    }
    if (!fits) continue;
    std::vector<int64_t> sorted = pts_all;
    std::sort(sorted.begin(), sorted.end());
    std::vector<int64_t> dts(pts_all.size());
    for (size_t i = 0; i < dts.size(); ++i) {
      dts[i] = i <= d ? dts0[i] : sorted[i - d];
      // A valid decode order only: increasing, never after presentation.
      if ((i > 0 && dts[i] <= dts[i - 1]) || dts[i] > pts_all[i]) return {};
    }
    return dts;
  }
  return {};
}

}  // namespace

JoinedVideo::JoinedVideo(std::vector<StylizedPart> parts, bool matroska,
                         std::unordered_map<int64_t, int64_t> source_durations,
                         AVRational source_time_base)
    : parts_(std::move(parts)),
      source_durations_(std::move(source_durations)),
      source_time_base_(source_time_base) {
  // The parts' times serve only here: moved out, not copied.
  std::vector<PacketTimes> times;
  std::vector<int64_t> shifts;
  for (StylizedPart& part : parts_) {
    times.push_back(std::move(part.times));
    shifts.push_back(part.shift);
  }
  if (!matroska) one_encoder_dts_ = OneEncoderDecodeTimes(times, shifts);
}

absl::StatusOr<bool> JoinedVideo::Next(AVPacket* p) {
  absl::Status s = Fill();
  if (!s.ok()) return s;
  if (ahead_.empty()) return false;
  time_base_ = parts_[part_].time_base();
  av_packet_move_ref(p, ahead_.front().get());
  ahead_.pop_front();
  return true;
}

absl::StatusOr<bool> JoinedVideo::More() {
  absl::Status s = Fill();
  if (!s.ok()) return s;
  return !ahead_.empty();
}

absl::Status JoinedVideo::Fill() {
  constexpr size_t kMaxLookahead = 256;
  while (ahead_.empty() && part_ < parts_.size()) {
    StylizedPart& part = parts_[part_];
    while (ahead_.size() < kMaxLookahead) {
      media::AvPacketPtr p(av_packet_alloc());
      if (p == nullptr) return absl::ResourceExhaustedError("out of memory");
      auto more = NextPacket(part.input.get(), part.video, p.get());
      if (!more.ok()) return more.status();
      if (!*more) break;
      const bool known = p->dts != AV_NOPTS_VALUE;
      ahead_.push_back(std::move(p));
      if (known) break;
    }
    if (ahead_.empty()) {
      ++part_;
      continue;
    }
    int64_t next = ahead_.back()->dts;
    if (next == AV_NOPTS_VALUE) {
      next = ahead_.back()->pts;
      for (const auto& p : ahead_) next = std::min(next, p->pts);
      int64_t k = static_cast<int64_t>(ahead_.size());
      for (auto& p : ahead_) p->dts = next - k--;
    } else {
      int64_t k = static_cast<int64_t>(ahead_.size()) - 1;
      for (auto& p : ahead_) {
        if (p->dts == AV_NOPTS_VALUE) p->dts = next - k;
        --k;
      }
    }
    for (auto& p : ahead_) {
      if (p->pts != AV_NOPTS_VALUE) p->pts -= part.shift;
      if (p->dts != AV_NOPTS_VALUE) p->dts -= part.shift;
    }
    if (!one_encoder_dts_.empty()) {
      for (auto& p : ahead_) p->dts = one_encoder_dts_[decode_index_++];
    }
    // The server gives each frame the duration of its source frame; a
    // packet read back from a segment has the gap to the next one instead,
    // which a fragmented MP4 keeps for the last frame of each fragment.
    const AVRational tb = part.time_base();
    for (auto& p : ahead_) {
      if (p->pts == AV_NOPTS_VALUE) continue;
      auto it =
          source_durations_.find(av_rescale_q(p->pts, tb, source_time_base_));
      if (it != source_durations_.end()) {
        p->duration = av_rescale_q(it->second, source_time_base_, tb);
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace stylizer::client
