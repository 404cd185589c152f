// Stream-copy joins of stylized segments; see movie_split.h.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
}

#include "absl/strings/str_cat.h"
#include "client/movie_packets.h"
#include "client/movie_split.h"
#include "client/output_files.h"
#include "server/media/aac_adts.h"
#include "server/media/audio_copy_rule.h"
#include "server/media/av_util.h"
#include "server/media/hidden_sound.h"
#include "server/media/movie_tags.h"

namespace stylizer::client {
namespace {

// Presentation and decode times of a movie's packets, in decode order.
using PacketTimes = std::vector<std::pair<int64_t, int64_t>>;

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

// A stylized segment (the server's movie of one Segment), opened for the
// join.
struct StylizedPart {
  media::AvInputPtr input;
  int video = -1;
  // Ticks (in the part's time base) by which the part's muxer delayed it.
  int64_t shift = 0;
  PacketTimes times;  // as read; moved out by JoinedVideo

  AVRational time_base() const { return input->streams[video]->time_base; }
};

// Reads the times of the server's movie `path` of `segment` (a pass of its
// own), then opens it again for the join.
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

// Stream copy needs every part encoded alike.
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

// The duration of each of the source's video frames, by presentation time
// (in the stream's time base).
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

// A muxer writing into an AtomicFile as a stream (no seeking back), like
// the server's outputs.
class StreamedOutput {
 public:
  static absl::StatusOr<std::unique_ptr<StreamedOutput>> Create(
      const std::string& path, bool matroska) {
    auto file = AtomicFile::Create(path);
    if (!file.ok()) return file.status();
    std::unique_ptr<StreamedOutput> out(new StreamedOutput(*std::move(file)));
    AVFormatContext* raw = nullptr;
    int ret = avformat_alloc_output_context2(
        &raw, nullptr, matroska ? "matroska" : "mp4", nullptr);
    if (ret < 0) return media::AvError(ret, "creating the output");
    out->muxer_.reset(raw);
    constexpr int kIoBufferSize = 64 * 1024;
    auto* buffer = static_cast<unsigned char*>(av_malloc(kIoBufferSize));
    if (buffer == nullptr) return absl::ResourceExhaustedError("out of memory");
    out->io_.reset(avio_alloc_context(buffer, kIoBufferSize, /*write_flag=*/1,
                                      out.get(), nullptr,
                                      &StreamedOutput::Write, nullptr));
    if (out->io_ == nullptr) {
      av_free(buffer);
      return absl::ResourceExhaustedError("out of memory");
    }
    out->muxer_->pb = out->io_.get();
    out->muxer_->flags |= AVFMT_FLAG_CUSTOM_IO | AVFMT_FLAG_FLUSH_PACKETS;
    out->muxer_->flush_packets = 1;
    return out;
  }

  AVFormatContext* muxer() const { return muxer_.get(); }

  // Writes the trailer and renames the file into place if `s` is OK and all
  // goes well; else removes it. Returns the first error.
  absl::Status Finish(absl::Status s) {
    if (s.ok()) {
      const int ret = av_write_trailer(muxer_.get());
      if (ret < 0) s = media::AvError(ret, "writing the output trailer");
    }
    if (s.ok()) avio_flush(io_.get());
    if (s.ok()) s = write_status_;
    if (!s.ok()) {
      file_->Discard();
      return s;
    }
    return file_->Commit();
  }

 private:
  explicit StreamedOutput(std::unique_ptr<AtomicFile> file)
      : file_(std::move(file)) {}

  static int Write(void* opaque, uint8_t* data, int size) {
    auto* self = static_cast<StreamedOutput*>(opaque);
    self->write_status_ = self->file_->Append(absl::string_view(
        reinterpret_cast<const char*>(data), static_cast<size_t>(size)));
    return self->write_status_.ok() ? size : AVERROR(EIO);
  }

  std::unique_ptr<AtomicFile> file_;
  absl::Status write_status_;
  media::AvioContextPtr io_;  // freed after the muxer that writes into it
  media::AvOutputPtr muxer_;
};

// Adds the source's sound stream `audio` to `out` as a stream copy; an ADTS
// AAC one gets its configuration, and `*adts` the filter that bares its
// packets.
absl::StatusOr<AVStream*> AddSound(const std::string& source,
                                   const AVFormatContext* src, int video,
                                   int audio, AVFormatContext* out,
                                   std::unique_ptr<media::AdtsToAsc>* adts) {
  const AVStream* in = src->streams[audio];
  AVStream* sound = avformat_new_stream(out, nullptr);
  if (sound == nullptr) return absl::ResourceExhaustedError("out of memory");
  int ret = avcodec_parameters_copy(sound->codecpar, in->codecpar);
  if (ret < 0) return media::AvError(ret, "copying the sound's parameters");
  sound->codecpar->codec_tag = 0;
  sound->time_base = in->time_base;
  if (absl::Status s = media::CopyKeptTags(in->metadata, &sound->metadata);
      !s.ok()) {
    return s;
  }
  if (media::IsAdtsAac(*in->codecpar)) {
    auto config = AdtsConfig(source, video, audio);
    if (!config.ok()) return config.status();
    auto filter = media::AdtsToAsc::Create(*in->codecpar, in->time_base);
    if (!filter.ok()) return filter.status();
    *adts = *std::move(filter);
    absl::Status set = media::SetAudioSpecificConfig(*config, sound->codecpar);
    if (!set.ok()) return set;
  }
  return sound;
}

// The parts' video packets in order, in each part's own time base, with
// the times mended for one movie: each part's muxer delay taken out, decode
// times as one encoder would have made them (fragmented MP4), and each
// frame given its source frame's duration.
class JoinedVideo {
 public:
  JoinedVideo(std::vector<StylizedPart> parts, bool matroska,
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

  // Moves the next packet into `p`; false after the last.
  absl::StatusOr<bool> Next(AVPacket* p) {
    absl::Status s = Fill();
    if (!s.ok()) return s;
    if (ahead_.empty()) return false;
    time_base_ = parts_[part_].time_base();
    av_packet_move_ref(p, ahead_.front().get());
    ahead_.pop_front();
    return true;
  }

  // Whether a packet follows the one Next gave last.
  absl::StatusOr<bool> More() {
    absl::Status s = Fill();
    if (!s.ok()) return s;
    return !ahead_.empty();
  }

  // The time base of the packet Next gave last.
  AVRational time_base() const { return time_base_; }

 private:
  // Reads the next packets once none are ahead: one with a decode time, and
  // those without before it. A Matroska reader knows no decode time for the
  // first packets of a movie with B-frames; the muxer needs increasing
  // ones, so they get the ticks just before the first known one (Matroska
  // stores none anyway).
  absl::Status Fill() {
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

  std::vector<StylizedPart> parts_;
  const std::unordered_map<int64_t, int64_t> source_durations_;
  const AVRational source_time_base_;
  std::vector<int64_t> one_encoder_dts_;  // empty: only moved up
  size_t part_ = 0;
  AVRational time_base_ = {1, 1};
  size_t decode_index_ = 0;
  std::deque<media::AvPacketPtr> ahead_;  // read ahead, of parts_[part_]
};

// The video written so far, in microseconds: its first frame shown, its
// first decode time, and the end of its last frame shown.
struct TrackSpan {
  int64_t first_pts = AV_NOPTS_VALUE;
  int64_t first_dts = AV_NOPTS_VALUE;
  int64_t end = AV_NOPTS_VALUE;
};

// Counts `p` (in `tb`) into `track`, and stretches it if it is the last
// packet, as MovieWriter::WriteLastMp4Packet stretches an unsplit output's:
// an MP4 track lasts as long as its samples, which with B-frames end at the
// last packet in decode order, not at the last frame shown (a movie whose
// last frame followed a pause came out 1 s short, split, and whole before).
absl::Status StretchLastMp4Packet(JoinedVideo* video, AVRational tb,
                                  AVPacket* p, TrackSpan* track) {
  constexpr AVRational kMicros = {1, 1000000};
  if (p->pts != AV_NOPTS_VALUE) {
    const int64_t pts = av_rescale_q(p->pts, tb, kMicros);
    const int64_t end =
        av_rescale_q(p->pts + std::max<int64_t>(p->duration, 0), tb, kMicros);
    if (track->first_pts == AV_NOPTS_VALUE || pts < track->first_pts) {
      track->first_pts = pts;
    }
    if (track->end == AV_NOPTS_VALUE || end > track->end) track->end = end;
  }
  if (p->dts == AV_NOPTS_VALUE) return absl::OkStatus();
  if (track->first_dts == AV_NOPTS_VALUE) {
    track->first_dts = av_rescale_q(p->dts, tb, kMicros);
  }
  absl::StatusOr<bool> more = video->More();
  if (!more.ok()) return more.status();
  if (*more || track->first_pts == AV_NOPTS_VALUE) return absl::OkStatus();
  const int64_t wanted = media::StretchedLastDuration(
      0, av_rescale_q(p->dts, tb, kMicros), track->end, track->first_pts,
      track->first_dts);
  p->duration = std::max(p->duration, av_rescale_q(wanted, kMicros, tb));
  return absl::OkStatus();
}

void ShiftBack(AVPacket* p, int64_t by) {
  if (p->pts != AV_NOPTS_VALUE) p->pts -= by;
  if (p->dts != AV_NOPTS_VALUE) p->dts -= by;
}

}  // namespace

absl::Status JoinSegments(const std::vector<Segment>& segments,
                          const std::vector<std::string>& stylized,
                          const std::string& source, bool with_audio,
                          bool matroska, const std::string& out_path,
                          const std::function<bool()>& stopped) {
  if (stylized.empty() || stylized.size() != segments.size()) {
    return absl::InvalidArgumentError("one stylized movie per segment");
  }
  std::vector<StylizedPart> parts;
  for (size_t i = 0; i < stylized.size(); ++i) {
    auto part = OpenPart(segments[i], stylized[i]);
    if (!part.ok()) return part.status();
    parts.push_back(*std::move(part));
  }
  if (absl::Status alike = CheckPartsAlike(parts); !alike.ok()) return alike;
  // The source: its video's rates, aspect and rotation (as the server copies
  // them into its outputs), and its sound.
  auto opened = OpenInput(source);
  if (!opened.ok()) return opened.status();
  media::AvInputPtr src = *std::move(opened);
  const int src_video = BestVideo(src.get());
  if (src_video < 0) {
    return absl::InvalidArgumentError("the input has no video stream");
  }
  const int src_audio = with_audio ? BestAudio(src.get(), src_video) : -1;
  const AVRational src_tb = src->streams[src_video]->time_base;
  auto durations = SourceFrameDurations(source, src_video);
  if (!durations.ok()) return durations.status();
  for (unsigned i = 0; i < src->nb_streams; ++i) {
    if (static_cast<int>(i) != src_audio) {
      src->streams[i]->discard = AVDISCARD_ALL;
    }
  }

  auto output = StreamedOutput::Create(out_path, matroska);
  if (!output.ok()) return output.status();
  AVFormatContext* out = (*output)->muxer();
  AVStream* out_video = avformat_new_stream(out, nullptr);
  if (out_video == nullptr)
    return absl::ResourceExhaustedError("out of memory");
  const StylizedPart& first = parts.front();
  absl::Status s =
      CopyVideoStreamSetup(first.input->streams[first.video], out_video);
  if (!s.ok()) return s;
  {
    const AVStream* in = src->streams[src_video];
    out_video->avg_frame_rate = in->avg_frame_rate;
    out_video->r_frame_rate = in->r_frame_rate;
    // The sample aspect ratio stays the stylized part's (from `first`): a
    // server that turned the frames upright for Matroska inverted it.
  }
  // The recording's tags, as the server keeps them in an unsplit output: the
  // segments were cut without them.
  s = media::CopyKeptTags(src->metadata, &out->metadata);
  if (s.ok()) {
    s = media::CopyKeptTags(src->streams[src_video]->metadata,
                            &out_video->metadata);
  }
  if (!s.ok()) return s;
  AVStream* out_audio = nullptr;
  std::unique_ptr<media::AdtsToAsc> adts;  // for ADTS AAC sound
  if (src_audio >= 0) {
    auto sound = AddSound(source, src.get(), src_video, src_audio, out, &adts);
    if (!sound.ok()) return sound.status();
    out_audio = *sound;
  }
  AVDictionary* options = nullptr;
  if (!matroska) {
    // The server's own fragmented MP4 flags: with delay_moov the edit list
    // knows the first packet, so a B-frame source starts at the same time as
    // in an unsplit output.
    av_dict_set(&options, "movflags", media::kServerMp4Flags, 0);
  }
  int ret = avformat_write_header(out, &options);
  av_dict_free(&options);
  if (ret < 0) return media::AvError(ret, "writing the output header");

  // Merge the segments' video (in order) with the source's sound by time.
  JoinedVideo video(std::move(parts), matroska, *std::move(durations), src_tb);
  media::AvPacketPtr vp(av_packet_alloc()), ap(av_packet_alloc());
  // Sound the source's edit list hides, left out as MovieWriter leaves it
  // out of an unsplit job's outputs.
  media::HiddenSound hidden_sound;
  if (vp == nullptr || ap == nullptr) {
    return absl::ResourceExhaustedError("out of memory");
  }
  bool have_v = false, have_a = false;
  auto next_video = [&]() -> absl::Status {
    absl::StatusOr<bool> more = video.Next(vp.get());
    have_v = more.ok() && *more;
    return more.status();
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
  int64_t last_video_dts = AV_NOPTS_VALUE;
  int64_t last_audio_dts = AV_NOPTS_VALUE;  // in out_audio's time base
  TrackSpan track;
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
      const AVRational atb = src->streams[src_audio]->time_base;
      video_first = vt == AV_NOPTS_VALUE || at == AV_NOPTS_VALUE ||
                    av_compare_ts(vt, video.time_base(), at, atb) <= 0;
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
      const AVRational tb = video.time_base();
      ShiftBack(vp.get(), av_rescale_q(video_shift, src_tb, tb));
      if (!matroska) {
        s = StretchLastMp4Packet(&video, tb, vp.get(), &track);
        if (!s.ok()) break;
      }
      s = WritePacket(out, vp.get(), tb, out_video);
      av_packet_unref(vp.get());
      if (s.ok()) s = next_video();
    } else {
      if (adts != nullptr) s = adts->Convert(ap.get());
      ShiftBack(ap.get(), audio_shift);
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
        s = WritePacket(out, ap.get(), atb, out_audio);
      }
      av_packet_unref(ap.get());
      if (s.ok()) s = next_audio();
    }
  }
  return (*output)->Finish(s);
}

}  // namespace stylizer::client
