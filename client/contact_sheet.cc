// Frame grabbing, PNG encoding and sheet layout with FFmpeg's libraries; see
// contact_sheet.h.
#include "client/contact_sheet.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <utility>
#include <vector>

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/error.h>
#include <libavutil/imgutils.h>
#include <libswscale/swscale.h>
}

#include "absl/strings/str_cat.h"
#include "client/output_files.h"
#include "client/tiny_font.h"
#include "server/media/av_util.h"
#include "server/media/hdr_to_sdr.h"
#include "server/media/pixel_format.h"
#include "server/media/rgb_turn.h"
#include "server/media/yuv_matrix.h"

namespace stylizer::client {
namespace {

// FFmpeg's owners, as the server's media code has them.
using FormatPtr = media::AvInputPtr;
using CodecPtr = media::AvCodecContextPtr;
using FramePtr = media::AvFramePtr;
using PacketPtr = media::AvPacketPtr;
using SwsPtr = media::SwsContextPtr;

// A tile's width over its height, at least and at most.
constexpr double kMinTileAspect = 0.5;
constexpr double kMaxTileAspect = 4.0;
// Lines a caption may wrap to.
constexpr int kMaxCaptionLines = 3;

// `pixels` rounded to an even number, at least 2 (4:2:0 scaling).
int EvenAtLeast2(double pixels) {
  return std::max(2, static_cast<int>(std::lround(pixels / 2)) * 2);
}

// What the sheet reports for an FFmpeg failure: the input is at fault.
absl::Status AvError(absl::string_view what, int err) {
  return absl::InvalidArgumentError(
      absl::StrCat(what, ": ", media::AvErrorText(err)));
}

// A scaler of `frame` to width x height in `format` that reads YUV and grey
// with the matrix and range the server reads them with (media::YuvMatrix: the
// tag, else by size; IsFullRange), not swscale's default BT.601 and limited
// range.
absl::StatusOr<SwsPtr> ReadingScaler(const AVFrame& frame, int width,
                                     int height, AVPixelFormat format) {
  const AVPixelFormat source =
      PlainPixelFormat(static_cast<AVPixelFormat>(frame.format));
  // The server's flags too: swscale's fast path is up to 4 levels off.
  SwsPtr sws(sws_getContext(frame.width, frame.height, source, width, height,
                            format,
                            SWS_BICUBIC | SWS_ACCURATE_RND | SWS_FULL_CHR_H_INT,
                            nullptr, nullptr, nullptr));
  if (!sws) return absl::InternalError("cannot set up frame conversion");
  media::SetReadingColorspace(sws.get(), source, frame);
  return sws;
}

// A frame scaled to width x height as RGB24; one with transparency is
// composited over white, as the server composites it (after scaling here:
// the tile is a preview).
absl::StatusOr<RgbImage> ToRgb(const AVFrame* frame, int width, int height) {
  const bool alpha = HasAlpha(static_cast<AVPixelFormat>(frame->format));
  absl::StatusOr<SwsPtr> sws = ReadingScaler(
      *frame, width, height, alpha ? AV_PIX_FMT_RGBA : AV_PIX_FMT_RGB24);
  if (!sws.ok()) return sws.status();
  const int channels = alpha ? 4 : 3;
  std::vector<uint8_t> pixels(static_cast<size_t>(width) * height * channels);
  uint8_t* dst[4] = {pixels.data(), nullptr, nullptr, nullptr};
  int dst_stride[4] = {width * channels, 0, 0, 0};
  sws_scale(sws->get(), frame->data, frame->linesize, 0, frame->height, dst,
            dst_stride);
  RgbImage out;
  out.width = width;
  out.height = height;
  if (!alpha) {
    out.rgb = std::move(pixels);
    return out;
  }
  out.rgb.resize(static_cast<size_t>(width) * height * 3);
  for (size_t i = 0, o = 0; i < pixels.size(); i += 4, o += 3) {
    for (int c = 0; c < 3; ++c) {
      out.rgb[o + c] = OverWhite(pixels[i + c], pixels[i + 3], 255);
    }
  }
  return out;
}

// An HDR frame scaled to width x height and tone-mapped to SDR, as the
// server reads it (media::HdrToSdr), so that the input's tile matches the
// stylized ones.
absl::StatusOr<RgbImage> ToSdrRgb(const AVFrame* frame,
                                  const media::HdrToSdr& hdr_to_sdr, int width,
                                  int height) {
  absl::StatusOr<SwsPtr> sws =
      ReadingScaler(*frame, width, height, AV_PIX_FMT_GBRP16);
  if (!sws.ok()) return sws.status();
  absl::StatusOr<FramePtr> planes = media::MakeVideoFrame(
      AV_PIX_FMT_GBRP16, width, height, "cannot allocate a frame");
  if (!planes.ok()) return planes.status();
  sws_scale(sws->get(), frame->data, frame->linesize, 0, frame->height,
            (*planes)->data, (*planes)->linesize);
  RgbImage out;
  out.width = width;
  out.height = height;
  out.rgb.resize(static_cast<size_t>(width) * height * 3);
  hdr_to_sdr.ConvertGbrp16(**planes, out.rgb.data());
  return out;
}

// Whether the server takes `video`'s orientation from its first frame, as
// MovieReader decides it: a lone MJPEG stream (a photo) without a display
// matrix of its own, whose EXIF orientation FFmpeg's decoder gives the frame.
bool OrientedByFirstFrame(AVFormatContext* fmt, const AVStream* video) {
  return video->codecpar->codec_id == AV_CODEC_ID_MJPEG &&
         av_stream_get_side_data(video, AV_PKT_DATA_DISPLAYMATRIX, nullptr) ==
             nullptr &&
         av_find_best_stream(fmt, AVMEDIA_TYPE_AUDIO, -1, -1, nullptr, 0) < 0;
}

// The orientation (rgb_turn.h) that shows the stream's frames as players
// do, as ffmpeg's autorotate does (a phone's portrait movie is stored
// landscape and turned 90): from the stream's display matrix, as the server
// reads it, or `first_frame`'s where the server takes that one.
int PlayerOrientation(AVFormatContext* fmt, const AVStream* stream,
                      const AVFrame* first_frame) {
  const media::DisplayTurn turn =
      first_frame != nullptr && OrientedByFirstFrame(fmt, stream)
          ? media::GetDisplayTurn(first_frame)
          : media::GetDisplayTurn(stream);
  return media::UprightOrientation(turn.ccw_degrees, turn.mirrored);
}

// The first decoded frame of stream `index`, or null: for the EXIF
// orientation of a photo, which only its frame carries.
FramePtr FirstFrame(AVFormatContext* fmt, int index) {
  const AVCodecParameters* par = fmt->streams[index]->codecpar;
  const AVCodec* codec = avcodec_find_decoder(par->codec_id);
  if (codec == nullptr) return nullptr;
  CodecPtr dec(avcodec_alloc_context3(codec));
  if (!dec || avcodec_parameters_to_context(dec.get(), par) < 0 ||
      avcodec_open2(dec.get(), codec, nullptr) < 0) {
    return nullptr;
  }
  PacketPtr packet(av_packet_alloc());
  FramePtr frame(av_frame_alloc());
  if (!packet || !frame) return nullptr;
  while (av_read_frame(fmt, packet.get()) >= 0) {
    const bool ours = packet->stream_index == index;
    if (ours) avcodec_send_packet(dec.get(), packet.get());
    av_packet_unref(packet.get());
    if (ours && avcodec_receive_frame(dec.get(), frame.get()) == 0) {
      return frame;
    }
  }
  avcodec_send_packet(dec.get(), nullptr);
  if (avcodec_receive_frame(dec.get(), frame.get()) == 0) return frame;
  return nullptr;
}

}  // namespace

absl::StatusOr<RgbImage> GrabFrame(const std::string& path, double position,
                                   int width, int height) {
  if (width <= 0 || height <= 0) {
    return absl::InvalidArgumentError("tile size must be positive");
  }
  AVFormatContext* raw_fmt = nullptr;
  int err = avformat_open_input(&raw_fmt, path.c_str(), nullptr, nullptr);
  if (err < 0) return AvError(absl::StrCat("cannot open ", path), err);
  FormatPtr fmt(raw_fmt);
  if ((err = avformat_find_stream_info(fmt.get(), nullptr)) < 0) {
    return AvError(absl::StrCat("cannot read ", path), err);
  }
  const AVCodec* codec = nullptr;
  const int index =
      av_find_best_stream(fmt.get(), AVMEDIA_TYPE_VIDEO, -1, -1, &codec, 0);
  if (index < 0)
    return AvError(absl::StrCat("no video stream in ", path), index);
  AVStream* stream = fmt->streams[index];
  CodecPtr dec(avcodec_alloc_context3(codec));
  if (!dec) return absl::InternalError("out of memory");
  if ((err = avcodec_parameters_to_context(dec.get(), stream->codecpar)) < 0 ||
      (err = avcodec_open2(dec.get(), codec, nullptr)) < 0) {
    return AvError(absl::StrCat("cannot decode ", path), err);
  }
  // Target time in the stream's time base; seek near it when possible, and
  // otherwise decode from the start.
  double duration = 0;
  if (stream->duration > 0) {
    duration = stream->duration * av_q2d(stream->time_base);
  } else if (fmt->duration > 0) {
    duration = static_cast<double>(fmt->duration) / AV_TIME_BASE;
  }
  const int64_t start =
      stream->start_time == AV_NOPTS_VALUE ? 0 : stream->start_time;
  // In double first: a file's duration may be more ticks than int64 holds.
  const double offset =
      std::clamp(position, 0.0, 1.0) * duration / av_q2d(stream->time_base);
  const int64_t target =
      std::isfinite(offset) && offset < 4e18 && start < INT64_MAX / 2
          ? start + static_cast<int64_t>(offset)
          : start;
  if (target > start &&
      av_seek_frame(fmt.get(), index, target, AVSEEK_FLAG_BACKWARD) >= 0) {
    avcodec_flush_buffers(dec.get());
  }
  PacketPtr packet(av_packet_alloc());
  FramePtr frame(av_frame_alloc());
  FramePtr best(av_frame_alloc());
  bool have = false;
  bool flushing = false;
  while (true) {
    if (!flushing) {
      err = av_read_frame(fmt.get(), packet.get());
      if (err == AVERROR_EOF) {
        flushing = true;
        avcodec_send_packet(dec.get(), nullptr);
      } else if (err < 0) {
        return AvError(absl::StrCat("cannot read ", path), err);
      } else {
        if (packet->stream_index == index) {
          err = avcodec_send_packet(dec.get(), packet.get());
          av_packet_unref(packet.get());
          if (err < 0 && err != AVERROR(EAGAIN)) {
            return AvError(absl::StrCat("cannot decode ", path), err);
          }
        } else {
          av_packet_unref(packet.get());
          continue;
        }
      }
    }
    bool done = false;
    while ((err = avcodec_receive_frame(dec.get(), frame.get())) >= 0) {
      av_frame_unref(best.get());
      av_frame_move_ref(best.get(), frame.get());
      have = true;
      const int64_t pts = best->best_effort_timestamp;
      if (pts == AV_NOPTS_VALUE || pts >= target) {
        done = true;
        break;
      }
    }
    if (done) break;
    if (err == AVERROR_EOF) break;
    if (err < 0 && err != AVERROR(EAGAIN)) {
      return AvError(absl::StrCat("cannot decode ", path), err);
    }
  }
  if (!have) {
    return absl::InvalidArgumentError(
        absl::StrCat("no decodable frame in ", path));
  }
  // Scaled to the stored orientation of the size asked for, then turned.
  // (A photo has one frame: the one grabbed is its first.)
  const int orientation = PlayerOrientation(fmt.get(), stream, best.get());
  const bool sideways = orientation >= 5;
  const int tile_w = sideways ? height : width;
  const int tile_h = sideways ? width : height;
  std::unique_ptr<media::HdrToSdr> hdr_to_sdr =
      media::HdrToSdr::ForStream(*stream);
  if (hdr_to_sdr != nullptr) {
    if (auto with_peak = hdr_to_sdr->WithPeakOf(*best)) {
      hdr_to_sdr = std::move(with_peak);
    }
  }
  auto rgb = hdr_to_sdr != nullptr
                 ? ToSdrRgb(best.get(), *hdr_to_sdr, tile_w, tile_h)
                 : ToRgb(best.get(), tile_w, tile_h);
  if (!rgb.ok()) return rgb.status();
  rgb->rgb = media::TurnRgb24(rgb->rgb, &rgb->width, &rgb->height, orientation);
  return rgb;
}

absl::StatusOr<std::string> EncodePng(const RgbImage& image) {
  const AVCodec* codec = avcodec_find_encoder(AV_CODEC_ID_PNG);
  if (!codec) return absl::InternalError("FFmpeg has no PNG encoder");
  CodecPtr enc(avcodec_alloc_context3(codec));
  if (!enc) return absl::InternalError("out of memory");
  enc->width = image.width;
  enc->height = image.height;
  enc->pix_fmt = AV_PIX_FMT_RGB24;
  enc->time_base = AVRational{1, 1};
  int err = avcodec_open2(enc.get(), codec, nullptr);
  if (err < 0) return AvError("cannot open the PNG encoder", err);
  FramePtr frame(av_frame_alloc());
  frame->width = image.width;
  frame->height = image.height;
  frame->format = AV_PIX_FMT_RGB24;
  if ((err = av_frame_get_buffer(frame.get(), 0)) < 0) {
    return AvError("cannot allocate a frame", err);
  }
  for (int y = 0; y < image.height; ++y) {
    std::memcpy(frame->data[0] + static_cast<size_t>(y) * frame->linesize[0],
                image.rgb.data() + static_cast<size_t>(y) * image.width * 3,
                static_cast<size_t>(image.width) * 3);
  }
  frame->pts = 0;
  if ((err = avcodec_send_frame(enc.get(), frame.get())) < 0 ||
      (err = avcodec_send_frame(enc.get(), nullptr)) < 0) {
    return AvError("cannot encode PNG", err);
  }
  PacketPtr packet(av_packet_alloc());
  std::string out;
  while ((err = avcodec_receive_packet(enc.get(), packet.get())) >= 0) {
    out.append(reinterpret_cast<const char*>(packet->data), packet->size);
    av_packet_unref(packet.get());
  }
  if (err != AVERROR_EOF) return AvError("cannot encode PNG", err);
  return out;
}

absl::Status WriteContactSheet(const std::vector<ContactSheetTile>& tiles,
                               const std::string& png_path,
                               const ContactSheetOptions& options) {
  if (tiles.empty())
    return absl::InvalidArgumentError("no movies for the sheet");
  if (options.tile_height < 16 || options.tile_height > 2160) {
    return absl::InvalidArgumentError("tile height must be within 16..2160");
  }
  // The first movie fixes the aspect ratio of every tile.
  double aspect = 1;
  const int th = options.tile_height;
  {
    AVFormatContext* raw = nullptr;
    int err = avformat_open_input(&raw, tiles[0].movie_path.c_str(), nullptr,
                                  nullptr);
    if (err < 0)
      return AvError(absl::StrCat("cannot open ", tiles[0].movie_path), err);
    FormatPtr fmt(raw);
    if ((err = avformat_find_stream_info(fmt.get(), nullptr)) < 0) {
      return AvError(absl::StrCat("cannot read ", tiles[0].movie_path), err);
    }
    const int index =
        av_find_best_stream(fmt.get(), AVMEDIA_TYPE_VIDEO, -1, -1, nullptr, 0);
    if (index < 0) {
      return AvError(absl::StrCat("no video stream in ", tiles[0].movie_path),
                     index);
    }
    const AVCodecParameters* par = fmt->streams[index]->codecpar;
    if (par->width <= 0 || par->height <= 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("no frame size in ", tiles[0].movie_path));
    }
    AVStream* stream = fmt->streams[index];
    FramePtr first;
    if (OrientedByFirstFrame(fmt.get(), stream)) {
      first = FirstFrame(fmt.get(), index);
    }
    // The stream's pixel aspect, else the codec's: Matroska keeps it in the
    // container only (an FFV1 movie with 2:1 pixels had square tiles).
    const AVRational sar =
        av_guess_sample_aspect_ratio(fmt.get(), stream, first.get());
    aspect = static_cast<double>(par->width) / par->height *
             (sar.num > 0 && sar.den > 0 ? av_q2d(sar) : 1.0);
    if (PlayerOrientation(fmt.get(), stream, first.get()) >= 5) {
      aspect = 1 / aspect;
    }
  }
  // A tile keeps that aspect within bounds; a frame beyond them is fitted
  // inside its tile, with bars. A 64x4000 movie had 2-pixel tiles with no
  // room for a caption, a 4000x64 one a sheet 33774 pixels wide (past what
  // viewers show).
  const int tw = EvenAtLeast2(
      th * std::clamp(aspect, kMinTileAspect, kMaxTileAspect));
  const int fw = EvenAtLeast2(std::min<double>(tw, th * aspect));
  const int fh = EvenAtLeast2(std::min<double>(th, tw / aspect));
  const int n = static_cast<int>(tiles.size());
  const int cols = options.columns > 0
                       ? std::min(options.columns, n)
                       : static_cast<int>(std::ceil(std::sqrt(n)));
  const int rows = (n + cols - 1) / cols;
  const int scale = th >= 120 ? 2 : 1;
  const int gap = options.gap;
  // Captions wrap to more lines rather than being cut (two blends read
  // alike); every row leaves room for the longest.
  std::vector<std::vector<std::string>> captions;
  int lines = 1;
  for (const ContactSheetTile& tile : tiles) {
    captions.push_back(
        WrapText(tile.caption, tw / (6 * scale), kMaxCaptionLines));
    lines = std::max(lines, static_cast<int>(captions.back().size()));
  }
  const int line_h = 7 * scale + 2 * scale;
  const int caption_h = lines * line_h - 2 * scale + 2 * gap;
  RgbImage sheet;
  sheet.width = gap + cols * (tw + gap);
  sheet.height = gap + rows * (th + caption_h);
  sheet.rgb.assign(static_cast<size_t>(sheet.width) * sheet.height * 3, 24);
  const uint8_t ink[3] = {235, 235, 235};
  for (int i = 0; i < n; ++i) {
    auto frame = GrabFrame(tiles[i].movie_path, options.position, fw, fh);
    if (!frame.ok()) return frame.status();
    const int x0 = gap + (i % cols) * (tw + gap);
    const int y0 = gap + (i / cols) * (th + caption_h);
    for (int y = 0; y < th; ++y) {  // the tile's bars
      std::memset(
          &sheet.rgb[(static_cast<size_t>(y0 + y) * sheet.width + x0) * 3], 0,
          static_cast<size_t>(tw) * 3);
    }
    const int fx = x0 + (tw - fw) / 2;
    const int fy = y0 + (th - fh) / 2;
    for (int y = 0; y < fh; ++y) {
      std::memcpy(
          &sheet.rgb[(static_cast<size_t>(fy + y) * sheet.width + fx) * 3],
          &frame->rgb[static_cast<size_t>(y) * fw * 3],
          static_cast<size_t>(fw) * 3);
    }
    for (size_t line = 0; line < captions[i].size(); ++line) {
      const std::string& text = captions[i][line];
      const int tx = x0 + (tw - TextWidth(text, scale)) / 2;
      DrawText(text, tx, y0 + th + gap + static_cast<int>(line) * line_h,
               scale, ink, sheet.rgb.data(), sheet.width, sheet.height);
    }
  }
  auto png = EncodePng(sheet);
  if (!png.ok()) return png.status();
  return AtomicFile::WriteWhole(png_path, *png);
}

}  // namespace stylizer::client
