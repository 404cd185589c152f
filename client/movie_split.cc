// Keyframe cuts of movies (the joins are in movie_join.cc); see movie_split.h.
#include "client/movie_split.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/log.h>
}

#include "absl/strings/str_cat.h"
#include "client/movie_packets.h"
#include "server/media/aac_adts.h"
#include "server/media/audio_copy_rule.h"
#include "server/media/av_util.h"
#include "server/media/timestamp_jumps.h"
#include "server/media/truncation.h"

namespace stylizer::client {
namespace {

// A keyframe time at or past a cut counts as the cut (times are computed the
// same way on both sides, so only rounding noise is absorbed).
constexpr double kCutEpsilon = 1e-9;

double Seconds(int64_t ts, AVRational tb) {
  return static_cast<double>(ts) * av_q2d(tb);
}

int64_t PacketTime(const AVPacket& p) {
  return p.pts != AV_NOPTS_VALUE ? p.pts : p.dts;
}

// The muxer whose segments keep the source's timestamps exactly: Matroska
// stores milliseconds, MP4 any timescale (it keeps the source's, times a
// power of two when small). nullptr if neither can carry the codec exactly.
const char* SegmentMuxer(const AVStream* video) {
  const AVCodecID codec = video->codecpar->codec_id;
  if (video->time_base.num == 1 && video->time_base.den == 1000 &&
      avformat_query_codec(av_guess_format("matroska", nullptr, nullptr), codec,
                           FF_COMPLIANCE_NORMAL) == 1) {
    return "matroska";
  }
  if (avformat_query_codec(av_guess_format("mp4", nullptr, nullptr), codec,
                           FF_COMPLIANCE_NORMAL) == 1) {
    return "mp4";
  }
  return nullptr;
}

// The keyframes (positions in `times`, presentation times in decode order)
// where a segment can start. A keyframe that opens its GOP (x264's open-gop,
// MPEG-2's default, HEVC's CRA) is followed in decode order by frames shown
// before it, which refer to the GOP before: a segment starting there would
// decode without them. Only the first keyframe (the start, not a cut) and
// closed ones are kept; *open counts the others.
std::vector<size_t> CutPoints(const std::vector<int64_t>& times,
                              const std::vector<size_t>& keys, int* open) {
  std::vector<int64_t> later_min(times.size() + 1, INT64_MAX);
  for (size_t i = times.size(); i-- > 0;) {
    later_min[i] = std::min(later_min[i + 1], times[i]);
  }
  std::vector<size_t> cuts;
  for (size_t k = 0; k < keys.size(); ++k) {
    const size_t i = keys[k];
    if (k > 0 && later_min[i + 1] < times[i]) {
      ++*open;
      continue;
    }
    cuts.push_back(i);
  }
  return cuts;
}

}  // namespace

absl::StatusOr<SplitProbe> ProbeForSplit(const std::string& path) {
  auto input = OpenInput(path);
  if (!input.ok()) return input.status();
  AVFormatContext* f = input->get();
  const int v = BestVideo(f);
  if (v < 0) return absl::InvalidArgumentError("the input has no video stream");
  const AVStream* video = f->streams[v];
  SplitProbe probe;
  if (SegmentMuxer(video) == nullptr) {
    probe.unsplittable = absl::StrCat(
        "its video codec (", avcodec_get_name(video->codecpar->codec_id),
        ") cannot be cut without changing its timestamps");
  }
  const int a = BestAudio(f, v);
  probe.has_audio = a >= 0;
  if (a >= 0) {
    const AVCodecParameters& sound = *f->streams[a]->codecpar;
    const std::string why =
        absl::StrCat("its sound (", avcodec_get_name(sound.codec_id),
                     ") would be transcoded by the server");
    // The muxers' refusals are answers here, not errors to print.
    const QuietAvLog quiet(AV_LOG_FATAL);
    if (!media::CopiesAudio(false, sound)) probe.audio_not_copyable_mp4 = why;
    if (!media::CopiesAudio(true, sound)) probe.audio_not_copyable_mkv = why;
    if (media::IsAdtsAac(sound) && !AdtsConfig(path, v, a).ok()) {
      probe.audio_not_copyable_mp4 = probe.audio_not_copyable_mkv = why;
    }
  }
  media::AvPacketPtr p(av_packet_alloc());
  if (p == nullptr) return absl::ResourceExhaustedError("out of memory");
  int64_t first = AV_NOPTS_VALUE, end = AV_NOPTS_VALUE;
  // Times in decode order, and the positions of the keyframes among them.
  std::vector<int64_t> times;
  std::vector<size_t> keys;
  int64_t packets = 0, without_pts = 0;
  // The latest presentation time the edit list shows, and the times of the
  // packets it hides (AV_PKT_FLAG_DISCARD).
  int64_t last_shown = AV_NOPTS_VALUE;
  std::vector<int64_t> hidden;
  // Decode times that do not increase (joined recordings), which no segment
  // muxer takes.
  int64_t last_dts = AV_NOPTS_VALUE;
  int64_t backwards = 0;
  // Jumps of the picture's or the sound's timestamps that the server makes
  // follow on (media::TimestampJumps), moving everything after them: a
  // segment after one would be moved alone, or not at all. Followed on a
  // copy of each packet's times, for the source's own times are kept here.
  media::TimestampJumps jumps(2, f->iformat);
  // Where the packets of any stream reach (seconds), against where the
  // container says the movie ends.
  double reached = 0;
  media::AvPacketPtr times_only(av_packet_alloc());
  if (times_only == nullptr)
    return absl::ResourceExhaustedError("out of memory");
  while (true) {
    const int ret = av_read_frame(f, p.get());
    if (ret == AVERROR_EOF) break;
    if (ret < 0) return media::AvError(ret, "reading a movie");
    if (p->stream_index == v || p->stream_index == a) {
      times_only->pts = p->pts;
      times_only->dts = p->dts;
      times_only->duration = p->duration;
      jumps.Follow(p->stream_index == v ? 0 : 1,
                   f->streams[p->stream_index]->time_base, times_only.get());
    }
    {
      const int64_t t = PacketTime(*p);
      if (t != AV_NOPTS_VALUE) {
        reached =
            std::max(reached, Seconds(t + std::max<int64_t>(p->duration, 0),
                                      f->streams[p->stream_index]->time_base));
      }
    }
    if (p->stream_index != v) {
      av_packet_unref(p.get());
      continue;
    }
    ++packets;
    if (p->dts != AV_NOPTS_VALUE) {
      if (last_dts != AV_NOPTS_VALUE && p->dts <= last_dts) ++backwards;
      last_dts = p->dts;
    }
    if (p->pts == AV_NOPTS_VALUE) {
      ++without_pts;
    } else if (p->flags & AV_PKT_FLAG_DISCARD) {
      hidden.push_back(p->pts);
    } else if (last_shown == AV_NOPTS_VALUE || p->pts > last_shown) {
      last_shown = p->pts;
    }
    const int64_t t = PacketTime(*p);
    if (t != AV_NOPTS_VALUE) {
      if (p->flags & AV_PKT_FLAG_KEY) keys.push_back(times.size());
      times.push_back(t);
      if (first == AV_NOPTS_VALUE || t < first) first = t;
      int64_t e = 0;  // saturated: a file may hold any timestamps
      if (__builtin_add_overflow(t, std::max<int64_t>(p->duration, 0), &e)) {
        e = INT64_MAX;
      }
      if (end == AV_NOPTS_VALUE || e > end) end = e;
    }
    av_packet_unref(p.get());
  }
  if (first != AV_NOPTS_VALUE) {
    probe.duration_seconds =
        Seconds(end, video->time_base) - Seconds(first, video->time_base);
  }
  // A movie cut off (a download or a copy that stopped part way) reads as a
  // shorter one, and its segments, each a complete movie, would hide the
  // cut from every replica: a job the server refuses as truncated came out
  // 57 % long, and OK. Sent whole, the server judges it by the same rule.
  const int64_t shown = packets - static_cast<int64_t>(hidden.size());
  const int64_t indexed = media::IndexedFrames(f, f->streams[v]);
  if (media::TooFewFrames(indexed, shown)) {
    probe.unsplittable =
        absl::StrCat("it looks cut off: its index lists ", indexed,
                     " video frames, but only ", shown,
                     " could be read; sent whole, the server judges it");
  } else if (const double end = media::ContainerEndSeconds(f);
             end > 0 &&
             f->duration_estimation_method != AVFMT_DURATION_FROM_BITRATE) {
    const double declared = static_cast<double>(f->duration) / AV_TIME_BASE;
    const double missing = end - reached;
    if (media::TooFewSeconds(declared, missing)) {
      probe.unsplittable = absl::StrCat("it looks cut off: it declares ",
                                        absl::SixDigits(declared),
                                        " s, but its streams reach only ",
                                        absl::SixDigits(declared - missing),
                                        " s; sent whole, the server judges it");
    }
  }
  // Segments keep the source's presentation times; where a source stores
  // only decode times for some frames (AVI with B-frames, MPEG-PS, raw
  // streams) there are none to keep, and cuts lost frames (4 of 600 in an
  // AVI, 2 of 600 in an MPEG-PS).
  if (without_pts > 0 && probe.unsplittable.empty()) {
    probe.unsplittable = absl::StrCat(
        without_pts, " of its ", packets, " video packets carry no "
        "presentation time (", f->iformat->name, "), so segments could not "
        "keep its frames' times");
  }
  if (backwards > 0 && probe.unsplittable.empty()) {
    probe.unsplittable =
        absl::StrCat("its video's timestamps go back ", backwards,
                     backwards == 1 ? " time" : " times",
                     " (joined recordings?), which no segment can keep");
  }
  if (jumps.jumps() > 0 && probe.unsplittable.empty()) {
    probe.unsplittable = absl::StrCat(
        "its timestamps jump ", jumps.jumps(),
        jumps.jumps() == 1 ? " time" : " times",
        " (joined recordings?), and the server moves what follows a jump, "
        "which a segment cut after it could not be");
  }
  // Times before 0 on MPEG's wrapping clock: segments cut there lost every
  // frame of the first one after its first few (34 of 60 came back, and OK).
  if (first != AV_NOPTS_VALUE && first < 0 && probe.unsplittable.empty() &&
      media::ClockWrapsBelowZero(f->iformat->name)) {
    probe.unsplittable = absl::StrCat(
        "its times start before 0, where FFmpeg puts those near a wrap of "
        "the 33-bit clock of ",
        f->iformat->name, " (every 26.5 hours), which segments cannot keep");
  }
  // An edit list that hides frames at the start is kept by the first
  // segment (its muxer hides what comes before time 0); one that hides
  // frames at the end cannot be: the last segment would show them, and the
  // packets cannot be left out (later frames may be decoded from them).
  const int64_t hidden_at_end =
      last_shown == AV_NOPTS_VALUE
          ? 0
          : std::count_if(hidden.begin(), hidden.end(),
                          [&](int64_t t) { return t > last_shown; });
  if (hidden_at_end > 0 && probe.unsplittable.empty()) {
    probe.unsplittable = absl::StrCat(
        "its edit list hides its last ",
        hidden_at_end == 1 ? std::string("frame")
                           : absl::StrCat(hidden_at_end, " frames"),
        ", which a segment would show");
  }
  for (size_t i : CutPoints(times, keys, &probe.open_keyframes)) {
    probe.keyframes.push_back(Seconds(times[i], video->time_base));
  }
  return probe;
}

std::vector<double> ChooseCuts(const std::vector<double>& keyframes,
                               double duration_seconds, int segments,
                               double min_seconds) {
  std::vector<double> cuts;
  if (segments < 2 || keyframes.empty() || duration_seconds <= 0) return cuts;
  std::vector<double> keys = keyframes;
  std::sort(keys.begin(), keys.end());
  const double start = keys.front();
  const double end = start + duration_seconds;
  const double min_len = std::max(min_seconds, 0.0);
  // With fewer segments of at least min_len, shares grow instead.
  if (min_len > 0) {
    // In double: a movie's span may be more seconds than an int holds.
    const double fit = std::floor(duration_seconds / min_len);
    if (fit < segments) segments = static_cast<int>(fit);
  }
  double prev = start;
  for (int i = 1; i < segments; ++i) {
    const double target = start + duration_seconds * i / segments;
    double best = -1;
    for (double k : keys) {
      if (k <= prev + kCutEpsilon || k - prev < min_len - kCutEpsilon ||
          end - k < min_len - kCutEpsilon) {
        continue;
      }
      if (best < 0 || std::abs(k - target) < std::abs(best - target)) best = k;
    }
    if (best < 0) break;
    cuts.push_back(best);
    prev = best;
  }
  return cuts;
}

absl::StatusOr<std::vector<Segment>> WriteSegments(
    const std::string& source, const std::vector<double>& cuts,
    const std::string& dir, const std::function<bool()>& stopped) {
  // The probe has read the source with its warnings; these are the muxer's.
  const QuietAvLog quiet;
  auto input = OpenInput(source);
  if (!input.ok()) return input.status();
  AVFormatContext* in = input->get();
  const int v = BestVideo(in);
  if (v < 0) return absl::InvalidArgumentError("the input has no video stream");
  AVStream* video = in->streams[v];
  const char* muxer = SegmentMuxer(video);
  if (muxer == nullptr) {
    return absl::FailedPreconditionError("this video cannot be cut exactly");
  }
  const std::string ext = std::strcmp(muxer, "matroska") == 0 ? "mkv" : "mp4";

  std::vector<std::string> paths;
  std::vector<Segment> segments;
  media::AvOutputPtr out;
  AVStream* out_video = nullptr;
  // The segment being written: its header is written (a trailer without
  // one crashes FFmpeg), or its file is to be removed on failure.
  bool header_written = false;
  std::string opened_path;
  auto finish = [&]() -> absl::Status {
    if (out == nullptr) return absl::OkStatus();
    int ret = header_written ? av_write_trailer(out.get()) : 0;
    avio_closep(&out->pb);
    out.reset();
    if (!header_written && !opened_path.empty()) {
      std::remove(opened_path.c_str());
    }
    opened_path.clear();
    if (ret < 0) return media::AvError(ret, "finishing a segment");
    return absl::OkStatus();
  };
  auto open = [&]() -> absl::Status {
    const std::string path =
        absl::StrCat(dir, "/segment-", paths.size(), ".", ext);
    header_written = false;  // before anything can fail
    AVFormatContext* raw = nullptr;
    int ret = avformat_alloc_output_context2(&raw, nullptr, muxer, nullptr);
    if (ret < 0) return media::AvError(ret, "creating a segment");
    out.reset(raw);
    out_video = avformat_new_stream(out.get(), nullptr);
    if (out_video == nullptr)
      return absl::ResourceExhaustedError("out of memory");
    absl::Status s = CopyVideoStreamSetup(video, out_video);
    if (!s.ok()) return s;
    ret = avio_open(&out->pb, path.c_str(), AVIO_FLAG_WRITE);
    if (ret < 0)
      return media::AvError(ret, absl::StrCat("cannot write ", path));
    opened_path = path;
    ret = avformat_write_header(out.get(), nullptr);
    if (ret < 0) return media::AvError(ret, "writing a segment header");
    header_written = true;
    paths.push_back(path);
    Segment seg;
    seg.path = path;
    seg.first_pts = AV_NOPTS_VALUE;
    seg.tb_num = video->time_base.num;
    seg.tb_den = video->time_base.den;
    segments.push_back(seg);
    return absl::OkStatus();
  };

  media::AvPacketPtr p(av_packet_alloc());
  if (p == nullptr) return absl::ResourceExhaustedError("out of memory");
  size_t next_cut = 0;
  absl::Status s = open();
  while (s.ok()) {
    if (stopped && stopped()) {
      s = absl::CancelledError("interrupted");
      break;
    }
    auto more = NextPacket(in, v, p.get());
    if (!more.ok()) {
      s = more.status();
      break;
    }
    if (!*more) break;
    const int64_t t = PacketTime(*p);
    if (next_cut < cuts.size() && (p->flags & AV_PKT_FLAG_KEY) &&
        t != AV_NOPTS_VALUE &&
        Seconds(t, video->time_base) >= cuts[next_cut] - kCutEpsilon) {
      ++next_cut;
      s = finish();
      if (s.ok()) s = open();
      if (!s.ok()) break;
    }
    // The first frame the segment shows: frames an edit list hides (a
    // lossless trim keeps the GOP before its cut) are decoded and dropped
    // by the server, so the stylized segment starts at the first shown one.
    if (p->pts != AV_NOPTS_VALUE && !(p->flags & AV_PKT_FLAG_DISCARD) &&
        (segments.back().first_pts == AV_NOPTS_VALUE ||
         p->pts < segments.back().first_pts)) {
      segments.back().first_pts = p->pts;
    }
    s = WritePacket(out.get(), p.get(), video->time_base, out_video);
    av_packet_unref(p.get());
  }
  absl::Status f = finish();
  if (s.ok()) s = f;
  if (s.ok() && paths.size() != cuts.size() + 1) {
    s = absl::InternalError("a cut fell on no keyframe");
  }
  if (!s.ok()) {
    if (out != nullptr) avio_closep(&out->pb);
    for (const auto& path : paths) std::remove(path.c_str());
    return s;
  }
  for (const Segment& seg : segments) {
    if (seg.first_pts == AV_NOPTS_VALUE) {
      for (const auto& path : paths) std::remove(path.c_str());
      return absl::FailedPreconditionError(
          "the video has packets without timestamps");
    }
  }
  return segments;
}

}  // namespace stylizer::client
