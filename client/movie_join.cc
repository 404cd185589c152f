// Stream-copy joins of stylized segments: the merge of their video with the
// source's sound into the joined movie; see movie_split.h.
#include <algorithm>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
}

#include "client/movie_join_internal.h"
#include "client/movie_packets.h"
#include "client/movie_split.h"
#include "server/media/aac_adts.h"
#include "server/media/audio_copy_rule.h"
#include "server/media/av_util.h"
#include "server/media/hidden_sound.h"
#include "server/media/movie_tags.h"

namespace stylizer::client {
namespace {

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
  // The probe has read the source with its warnings; these are about the
  // segments and the join's own output.
  const QuietAvLog quiet;
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
      src_audio >= 0 ? src->streams[src_audio] : nullptr, src->iformat->name);
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
