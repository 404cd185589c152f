// Keyframe cuts and stream-copy joins of movies; see movie_split.h.
#include "client/movie_split.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <deque>
#include <memory>
#include <unordered_map>

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/error.h>
#include <libavutil/log.h>
}

#include "absl/strings/str_cat.h"
#include "client/output_files.h"
#include "server/media/aac_adts.h"
#include "server/media/audio_copy_rule.h"
#include "server/media/hidden_sound.h"

namespace stylizer::client {
namespace {

// A keyframe time at or past a cut counts as the cut (times are computed the
// same way on both sides, so only rounding noise is absorbed).
constexpr double kCutEpsilon = 1e-9;

struct InputCloser {
  void operator()(AVFormatContext* f) const { avformat_close_input(&f); }
};
using InputPtr = std::unique_ptr<AVFormatContext, InputCloser>;
struct OutputFree {
  void operator()(AVFormatContext* f) const { avformat_free_context(f); }
};
using OutputPtr = std::unique_ptr<AVFormatContext, OutputFree>;
struct PacketFree {
  void operator()(AVPacket* p) const { av_packet_free(&p); }
};
using PacketPtr = std::unique_ptr<AVPacket, PacketFree>;
struct IoFree {
  void operator()(AVIOContext* io) const {
    if (io != nullptr) av_freep(&io->buffer);
    avio_context_free(&io);
  }
};
using IoPtr = std::unique_ptr<AVIOContext, IoFree>;

std::string AvText(int err) {
  char text[AV_ERROR_MAX_STRING_SIZE] = {};
  av_strerror(err, text, sizeof(text));
  return text;
}

absl::Status AvError(absl::string_view what, int err) {
  return absl::InternalError(absl::StrCat(what, ": ", AvText(err)));
}

absl::StatusOr<InputPtr> OpenInput(const std::string& path) {
  AVFormatContext* raw = nullptr;
  int ret = avformat_open_input(&raw, path.c_str(), nullptr, nullptr);
  if (ret < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot open ", path, " as a movie: ", AvText(ret)));
  }
  InputPtr input(raw);
  ret = avformat_find_stream_info(input.get(), nullptr);
  if (ret < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot read the streams of ", path, ": ", AvText(ret)));
  }
  return input;
}

// The stream the server would stylize (-1 if none).
int BestVideo(AVFormatContext* f) {
  return av_find_best_stream(f, AVMEDIA_TYPE_VIDEO, -1, -1, nullptr, 0);
}

// The sound the server would copy with that video (-1 if none).
int BestAudio(AVFormatContext* f, int video) {
  int a = av_find_best_stream(f, AVMEDIA_TYPE_AUDIO, -1, video, nullptr, 0);
  return a >= 0 ? a : -1;
}

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

// Gives `out` the sample aspect ratio players see in `in`: the container's,
// else the bitstream's. The muxers refuse a stream whose two differ (as
// after `ffmpeg -c copy -aspect`), so both get it.
void CopySampleAspectRatio(const AVStream* in, AVStream* out) {
  const AVRational sar =
      av_guess_sample_aspect_ratio(nullptr, const_cast<AVStream*>(in), nullptr);
  out->sample_aspect_ratio = sar;
  out->codecpar->sample_aspect_ratio = sar;
}

absl::Status CopyVideoStreamSetup(const AVStream* in, AVStream* out) {
  int ret = avcodec_parameters_copy(out->codecpar, in->codecpar);
  if (ret < 0) return AvError("copying the video parameters", ret);
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
  if (ret < 0) return AvError("writing a movie", ret);
  return absl::OkStatus();
}

// Reads the next packet of stream `index` of `f` into `p`; false at the end.
absl::StatusOr<bool> NextPacket(AVFormatContext* f, int index, AVPacket* p) {
  while (true) {
    int ret = av_read_frame(f, p);
    if (ret == AVERROR_EOF) return false;
    if (ret < 0) return AvError("reading a movie", ret);
    if (p->stream_index == index) return true;
    av_packet_unref(p);
  }
}

// Decode times for the joined video as one encoder would have made them.
// Each segment's encoder starts its decode times before its first frame by
// a delay that depends on the first frames' spacing; after that, an encoder
// with B-frames (x264) gives packet i the i-th smallest presentation time,
// `delay` packets back. That pattern is read off the first segment and
// applied across the whole movie. Empty when the first segment does not
// follow it (then overlapping decode times are only moved up).
std::vector<int64_t> OneEncoderDecodeTimes(
    const std::vector<std::vector<std::pair<int64_t, int64_t>>>& parts,
    const std::vector<int64_t>& shifts) {
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

// AAC in ADTS form (MPEG-TS, raw .aac) carries its configuration in each
// packet's header; MP4 and Matroska want it once, as the stream's extradata,
// and bare packets. The configuration as the server takes it: from the first
// audio packets. NotFound if none of them reveals it (the server then
// transcodes the sound).
absl::StatusOr<std::string> AdtsConfig(const std::string& source, int video,
                                       int audio) {
  auto input = OpenInput(source);
  if (!input.ok()) return input.status();
  const AVStream* st = (*input)->streams[audio];
  auto filter = media::AdtsToAsc::Create(*st->codecpar, st->time_base);
  if (!filter.ok()) return filter.status();
  PacketPtr p(av_packet_alloc());
  if (p == nullptr) return absl::ResourceExhaustedError("out of memory");
  // As media::MovieReader looks: the first audio packet, within the
  // look-ahead counted over the picture's and the sound's packets.
  int packets = 0;
  int64_t bytes = 0;
  while (packets < media::kAdtsLookAheadPackets &&
         bytes < media::kAdtsLookAheadBytes) {
    const int ret = av_read_frame(input->get(), p.get());
    if (ret == AVERROR_EOF) break;
    if (ret < 0) return AvError("reading a movie", ret);
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
    const int level = av_log_get_level();
    av_log_set_level(AV_LOG_FATAL);
    if (!media::CopiesAudio(false, sound)) probe.audio_not_copyable_mp4 = why;
    if (!media::CopiesAudio(true, sound)) probe.audio_not_copyable_mkv = why;
    if (media::IsAdtsAac(sound) && !AdtsConfig(path, v, a).ok()) {
      probe.audio_not_copyable_mp4 = probe.audio_not_copyable_mkv = why;
    }
    av_log_set_level(level);
  }
  PacketPtr p(av_packet_alloc());
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
  while (true) {
    auto more = NextPacket(f, v, p.get());
    if (!more.ok()) return more.status();
    if (!*more) break;
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
  OutputPtr out;
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
    if (ret < 0) return AvError("finishing a segment", ret);
    return absl::OkStatus();
  };
  auto open = [&]() -> absl::Status {
    const std::string path =
        absl::StrCat(dir, "/segment-", paths.size(), ".", ext);
    header_written = false;  // before anything can fail
    AVFormatContext* raw = nullptr;
    int ret = avformat_alloc_output_context2(&raw, nullptr, muxer, nullptr);
    if (ret < 0) return AvError("creating a segment", ret);
    out.reset(raw);
    out_video = avformat_new_stream(out.get(), nullptr);
    if (out_video == nullptr)
      return absl::ResourceExhaustedError("out of memory");
    absl::Status s = CopyVideoStreamSetup(video, out_video);
    if (!s.ok()) return s;
    ret = avio_open(&out->pb, path.c_str(), AVIO_FLAG_WRITE);
    if (ret < 0) return AvError(absl::StrCat("cannot write ", path), ret);
    opened_path = path;
    ret = avformat_write_header(out.get(), nullptr);
    if (ret < 0) return AvError("writing a segment header", ret);
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

  PacketPtr p(av_packet_alloc());
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

absl::Status JoinSegments(const std::vector<Segment>& segments,
                          const std::vector<std::string>& stylized,
                          const std::string& source, bool with_audio,
                          bool matroska, const std::string& out_path,
                          const std::function<bool()>& stopped) {
  if (stylized.empty() || stylized.size() != segments.size()) {
    return absl::InvalidArgumentError("one stylized movie per segment");
  }
  std::vector<InputPtr> parts;
  std::vector<int> part_video;
  // Ticks (in the part's time base) by which the part's muxer delayed it.
  std::vector<int64_t> part_shift;
  // Each part's presentation and decode times in decode order, as read.
  std::vector<std::vector<std::pair<int64_t, int64_t>>> part_times;
  for (size_t i = 0; i < stylized.size(); ++i) {
    const std::string& path = stylized[i];
    int64_t min_pts = AV_NOPTS_VALUE;
    part_times.emplace_back();
    {
      auto scan = OpenInput(path);
      if (!scan.ok()) return scan.status();
      const int v = BestVideo(scan->get());
      if (v < 0) {
        return absl::InternalError(
            absl::StrCat("a stylized segment has no video: ", path));
      }
      PacketPtr p(av_packet_alloc());
      if (p == nullptr) return absl::ResourceExhaustedError("out of memory");
      while (true) {
        auto more = NextPacket(scan->get(), v, p.get());
        if (!more.ok()) return more.status();
        if (!*more) break;
        if (p->pts != AV_NOPTS_VALUE &&
            (min_pts == AV_NOPTS_VALUE || p->pts < min_pts)) {
          min_pts = p->pts;
        }
        part_times.back().emplace_back(p->pts, p->dts);
        av_packet_unref(p.get());
      }
    }
    auto input = OpenInput(path);
    if (!input.ok()) return input.status();
    const int v = BestVideo(input->get());
    const AVRational tb = (*input)->streams[v]->time_base;
    const int64_t want =
        av_rescale_q(segments[i].first_pts,
                     AVRational{segments[i].tb_num, segments[i].tb_den}, tb);
    part_shift.push_back(min_pts == AV_NOPTS_VALUE ? 0 : min_pts - want);
    part_video.push_back(v);
    parts.push_back(*std::move(input));
  }
  const AVStream* first = parts[0]->streams[part_video[0]];
  for (size_t i = 1; i < parts.size(); ++i) {
    const AVCodecParameters* a = first->codecpar;
    const AVCodecParameters* b = parts[i]->streams[part_video[i]]->codecpar;
    if (a->codec_id != b->codec_id || a->width != b->width ||
        a->height != b->height || a->extradata_size != b->extradata_size ||
        (a->extradata_size > 0 &&
         std::memcmp(a->extradata, b->extradata, a->extradata_size) != 0)) {
      return absl::InternalError(
          "the replicas encoded the segments differently (different server "
          "versions or settings?); run without --split");
    }
  }
  // The source: its video's rates, aspect and rotation (as the server copies
  // them into its outputs), and its sound.
  auto opened = OpenInput(source);
  if (!opened.ok()) return opened.status();
  InputPtr src = *std::move(opened);
  const int src_video = BestVideo(src.get());
  if (src_video < 0) {
    return absl::InvalidArgumentError("the input has no video stream");
  }
  const int src_audio = with_audio ? BestAudio(src.get(), src_video) : -1;
  // The server gives each frame the duration of its source frame; a joined
  // packet read back from a segment has the gap to the next one instead,
  // which a fragmented MP4 keeps for the last frame of each fragment.
  const AVRational src_tb = src->streams[src_video]->time_base;
  std::unordered_map<int64_t, int64_t> src_durations;
  {
    auto scan = OpenInput(source);
    if (!scan.ok()) return scan.status();
    PacketPtr p(av_packet_alloc());
    if (p == nullptr) return absl::ResourceExhaustedError("out of memory");
    while (true) {
      auto more = NextPacket(scan->get(), src_video, p.get());
      if (!more.ok()) return more.status();
      if (!*more) break;
      if (p->pts != AV_NOPTS_VALUE && p->duration > 0) {
        src_durations[p->pts] = p->duration;
      }
      av_packet_unref(p.get());
    }
  }
  for (unsigned i = 0; i < src->nb_streams; ++i) {
    if (static_cast<int>(i) != src_audio) {
      src->streams[i]->discard = AVDISCARD_ALL;
    }
  }

  auto file = AtomicFile::Create(out_path);
  if (!file.ok()) return file.status();
  AVFormatContext* raw = nullptr;
  int ret = avformat_alloc_output_context2(
      &raw, nullptr, matroska ? "matroska" : "mp4", nullptr);
  if (ret < 0) return AvError("creating the output", ret);
  OutputPtr out(raw);
  // Written as a stream, like the server's outputs (no seeking back).
  constexpr int kIoBufferSize = 64 * 1024;
  auto* buffer = static_cast<unsigned char*>(av_malloc(kIoBufferSize));
  if (buffer == nullptr) return absl::ResourceExhaustedError("out of memory");
  struct Sink {
    AtomicFile* file;
    absl::Status status;
  } sink{file->get(), absl::OkStatus()};
  IoPtr io(avio_alloc_context(
      buffer, kIoBufferSize, /*write_flag=*/1, &sink, nullptr,
      [](void* opaque, uint8_t* data, int size) -> int {
        auto* s = static_cast<Sink*>(opaque);
        s->status = s->file->Append(absl::string_view(
            reinterpret_cast<const char*>(data), static_cast<size_t>(size)));
        return s->status.ok() ? size : AVERROR(EIO);
      },
      nullptr));
  if (io == nullptr) {
    av_free(buffer);
    return absl::ResourceExhaustedError("out of memory");
  }
  out->pb = io.get();
  out->flags |= AVFMT_FLAG_CUSTOM_IO | AVFMT_FLAG_FLUSH_PACKETS;
  out->flush_packets = 1;

  AVStream* out_video = avformat_new_stream(out.get(), nullptr);
  if (out_video == nullptr)
    return absl::ResourceExhaustedError("out of memory");
  absl::Status s = CopyVideoStreamSetup(first, out_video);
  if (!s.ok()) return s;
  {
    const AVStream* in = src->streams[src_video];
    out_video->avg_frame_rate = in->avg_frame_rate;
    out_video->r_frame_rate = in->r_frame_rate;
    // The sample aspect ratio stays the stylized part's (from `first`): a
    // server that turned the frames upright for Matroska inverted it.
  }
  AVStream* out_audio = nullptr;
  std::unique_ptr<media::AdtsToAsc> adts;  // for ADTS AAC sound
  if (src_audio >= 0) {
    const AVStream* in = src->streams[src_audio];
    out_audio = avformat_new_stream(out.get(), nullptr);
    if (out_audio == nullptr)
      return absl::ResourceExhaustedError("out of memory");
    ret = avcodec_parameters_copy(out_audio->codecpar, in->codecpar);
    if (ret < 0) return AvError("copying the sound's parameters", ret);
    out_audio->codecpar->codec_tag = 0;
    out_audio->time_base = in->time_base;
    if (media::IsAdtsAac(*in->codecpar)) {
      auto config = AdtsConfig(source, src_video, src_audio);
      if (!config.ok()) return config.status();
      auto filter = media::AdtsToAsc::Create(*in->codecpar, in->time_base);
      if (!filter.ok()) return filter.status();
      adts = *std::move(filter);
      absl::Status set =
          media::SetAudioSpecificConfig(*config, out_audio->codecpar);
      if (!set.ok()) return set;
    }
  }
  AVDictionary* options = nullptr;
  if (!matroska) {
    // The server's own fragmented MP4 flags: with delay_moov the edit list
    // knows the first packet, so a B-frame source starts at the same time as
    // in an unsplit output.
    av_dict_set(&options, "movflags", media::kServerMp4Flags, 0);
  }
  ret = avformat_write_header(out.get(), &options);
  av_dict_free(&options);
  if (ret < 0) return AvError("writing the output header", ret);

  // Merge the segments' video (in order) with the source's sound by time.
  PacketPtr vp(av_packet_alloc()), ap(av_packet_alloc());
  // Sound the source's edit list hides, left out as MovieWriter leaves it
  // out of an unsplit job's outputs.
  media::HiddenSound hidden_sound;
  if (vp == nullptr || ap == nullptr) {
    return absl::ResourceExhaustedError("out of memory");
  }
  size_t part = 0;
  bool have_v = false, have_a = false;
  // Packets read ahead of `vp` in the current part. A Matroska reader knows
  // no decode time for the first packets of a movie with B-frames; the muxer
  // needs increasing ones, so they get the ticks just before the first known
  // one (Matroska stores none anyway).
  std::deque<PacketPtr> ahead;
  const std::vector<int64_t> one_encoder_dts =
      matroska ? std::vector<int64_t>()
               : OneEncoderDecodeTimes(part_times, part_shift);
  size_t decode_index = 0;
  constexpr size_t kMaxLookahead = 256;
  auto fill = [&]() -> absl::Status {
    while (ahead.empty() && part < parts.size()) {
      while (ahead.size() < kMaxLookahead) {
        PacketPtr p(av_packet_alloc());
        if (p == nullptr) return absl::ResourceExhaustedError("out of memory");
        auto more = NextPacket(parts[part].get(), part_video[part], p.get());
        if (!more.ok()) return more.status();
        if (!*more) break;
        const bool known = p->dts != AV_NOPTS_VALUE;
        ahead.push_back(std::move(p));
        if (known) break;
      }
      if (ahead.empty()) {
        ++part;
        continue;
      }
      int64_t next = ahead.back()->dts;
      if (next == AV_NOPTS_VALUE) {
        next = ahead.back()->pts;
        for (const auto& p : ahead) next = std::min(next, p->pts);
        int64_t k = static_cast<int64_t>(ahead.size());
        for (auto& p : ahead) p->dts = next - k--;
      } else {
        int64_t k = static_cast<int64_t>(ahead.size()) - 1;
        for (auto& p : ahead) {
          if (p->dts == AV_NOPTS_VALUE) p->dts = next - k;
          --k;
        }
      }
      for (auto& p : ahead) {
        if (p->pts != AV_NOPTS_VALUE) p->pts -= part_shift[part];
        if (p->dts != AV_NOPTS_VALUE) p->dts -= part_shift[part];
      }
      if (!one_encoder_dts.empty()) {
        for (auto& p : ahead) p->dts = one_encoder_dts[decode_index++];
      }
      const AVRational tb = parts[part]->streams[part_video[part]]->time_base;
      for (auto& p : ahead) {
        if (p->pts == AV_NOPTS_VALUE) continue;
        auto it = src_durations.find(av_rescale_q(p->pts, tb, src_tb));
        if (it != src_durations.end()) {
          p->duration = av_rescale_q(it->second, src_tb, tb);
        }
      }
    }
    return absl::OkStatus();
  };
  auto next_video = [&]() -> absl::Status {
    have_v = false;
    absl::Status st = fill();
    if (!st.ok() || ahead.empty()) return st;
    av_packet_move_ref(vp.get(), ahead.front().get());
    ahead.pop_front();
    have_v = true;
    return absl::OkStatus();
  };
  auto next_audio = [&]() -> absl::Status {
    have_a = false;
    if (out_audio == nullptr) return absl::OkStatus();
    while (!hidden_sound.Pop(ap.get())) {
      auto more = NextPacket(src.get(), src_audio, ap.get());
      if (!more.ok()) return more.status();
      if (!*more) return absl::OkStatus();
      hidden_sound.Push(ap.get());
    }
    have_a = true;
    return absl::OkStatus();
  };
  // Moved back as the server moves an unsplit job's output, so that it
  // starts at 0 (media::LateStartMicros), in the source's time bases as the
  // server rounds it.
  const int64_t shift_us = media::LateStartMicros(
      src->streams[src_video],
      src_audio >= 0 ? src->streams[src_audio] : nullptr);
  const int64_t video_shift = media::LateStartTicks(shift_us, src_tb);
  const int64_t audio_shift =
      src_audio >= 0
          ? media::LateStartTicks(shift_us, src->streams[src_audio]->time_base)
          : 0;
  auto shift_back = [](AVPacket* p, int64_t by) {
    if (p->pts != AV_NOPTS_VALUE) p->pts -= by;
    if (p->dts != AV_NOPTS_VALUE) p->dts -= by;
  };
  int64_t last_video_dts = AV_NOPTS_VALUE;
  int64_t last_audio_dts = AV_NOPTS_VALUE;  // in out_audio's time base
  s = next_video();
  if (s.ok()) s = next_audio();
  while (s.ok() && (have_v || have_a)) {
    if (stopped && stopped()) {
      s = absl::CancelledError("interrupted");
      break;
    }
    bool video_first = have_v;
    if (have_v && have_a) {
      const int64_t vt = vp->dts != AV_NOPTS_VALUE ? vp->dts : vp->pts;
      const int64_t at = ap->dts != AV_NOPTS_VALUE ? ap->dts : ap->pts;
      const AVRational vtb = parts[part]->streams[part_video[part]]->time_base;
      const AVRational atb = src->streams[src_audio]->time_base;
      video_first = vt == AV_NOPTS_VALUE || at == AV_NOPTS_VALUE ||
                    av_compare_ts(vt, vtb, at, atb) <= 0;
    }
    if (video_first) {
      // Each segment's encoder started its decode times a little before its
      // first frame; where that overlaps the previous segment's last decode
      // time, move them up (presentation times never change).
      if (vp->dts != AV_NOPTS_VALUE) {
        if (last_video_dts != AV_NOPTS_VALUE && vp->dts <= last_video_dts) {
          vp->dts = last_video_dts + 1;
        }
        if (vp->pts != AV_NOPTS_VALUE && vp->dts > vp->pts) {
          s = absl::InternalError(
              "the segments' decode times cannot be joined; run without "
              "--split");
          break;
        }
        last_video_dts = vp->dts;
      }
      const AVRational tb = parts[part]->streams[part_video[part]]->time_base;
      shift_back(vp.get(), av_rescale_q(video_shift, src_tb, tb));
      s = WritePacket(out.get(), vp.get(), tb, out_video);
      av_packet_unref(vp.get());
      if (s.ok()) s = next_video();
    } else {
      if (adts != nullptr) s = adts->Convert(ap.get());
      shift_back(ap.get(), audio_shift);
      const AVRational atb = src->streams[src_audio]->time_base;
      // Sound that goes back (joined recordings) would stop the muxer; it is
      // left out, as MovieWriter::WriteAudio leaves it out of an unsplit
      // job's outputs (compared in the output's time base, as there).
      const int64_t dts =
          ap->dts == AV_NOPTS_VALUE
              ? AV_NOPTS_VALUE
              : av_rescale_q(ap->dts, atb, out_audio->time_base);
      const bool goes_back = dts != AV_NOPTS_VALUE &&
                             last_audio_dts != AV_NOPTS_VALUE &&
                             dts <= last_audio_dts;
      if (s.ok() && !goes_back) {
        if (dts != AV_NOPTS_VALUE) last_audio_dts = dts;
        s = WritePacket(out.get(), ap.get(), atb, out_audio);
      }
      av_packet_unref(ap.get());
      if (s.ok()) s = next_audio();
    }
  }
  if (s.ok()) {
    ret = av_write_trailer(out.get());
    if (ret < 0) s = AvError("writing the output trailer", ret);
  }
  if (s.ok()) avio_flush(io.get());
  if (s.ok() && !sink.status.ok()) s = sink.status;
  if (!s.ok()) {
    (*file)->Discard();
    return s;
  }
  return (*file)->Commit();
}

}  // namespace stylizer::client
