// RGB24 frames encoded as PNG, JPEG or raw images; see image_codec.h.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>

#include "absl/strings/str_cat.h"
#include "server/media/av_util.h"
#include "server/service/image_codec.h"

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavutil/frame.h>
#include <libswscale/swscale.h>
}

namespace stylizer {
namespace {

using media::AvCodecContextPtr;
using media::AvFramePtr;
using media::AvPacketPtr;
using media::SwsContextPtr;

// Runs one frame through an opened encoder and returns the packet's bytes.
absl::StatusOr<std::string> EncodeOne(AVCodecContext* ctx, AVFrame* frame,
                                      const char* kind) {
  AvPacketPtr packet(av_packet_alloc());
  if (!packet) return absl::ResourceExhaustedError("out of memory");
  int rc = avcodec_send_frame(ctx, frame);
  if (rc >= 0) rc = avcodec_send_frame(ctx, nullptr);
  if (rc >= 0 || rc == AVERROR_EOF)
    rc = avcodec_receive_packet(ctx, packet.get());
  if (rc < 0) {
    return media::AvError(rc, absl::StrCat(kind, " encoding failed"));
  }
  return std::string(reinterpret_cast<const char*>(packet->data), packet->size);
}

absl::StatusOr<AvCodecContextPtr> OpenEncoder(AVCodecID id,
                                              const RgbFrame& frame,
                                              AVPixelFormat format,
                                              const char* kind) {
  const AVCodec* codec = avcodec_find_encoder(id);
  if (codec == nullptr) {
    return absl::InternalError(
        absl::StrCat("this FFmpeg build has no ", kind, " encoder"));
  }
  AvCodecContextPtr ctx(avcodec_alloc_context3(codec));
  if (!ctx) return absl::ResourceExhaustedError("out of memory");
  ctx->width = frame.width;
  ctx->height = frame.height;
  ctx->pix_fmt = format;
  ctx->time_base = AVRational{1, 25};
  ctx->thread_count = 1;
  if (id == AV_CODEC_ID_MJPEG) {
    // -q:v 2: in size and PSNR between libjpeg's quality 85 and 90.
    ctx->flags |= AV_CODEC_FLAG_QSCALE;
    ctx->global_quality = FF_QP2LAMBDA * 2;
    ctx->color_range = AVCOL_RANGE_JPEG;
  } else {
    ctx->compression_level = 3;  // fast zlib level; PNG stays lossless
  }
  const int rc = avcodec_open2(ctx.get(), codec, nullptr);
  if (rc < 0) {
    return media::AvError(rc,
                          absl::StrCat("cannot open the ", kind, " encoder"));
  }
  return ctx;
}

// The encoder reads `rgb` where it is, unpadded: with its default filter
// (none) it copies each row as it is, reading no byte past the pixels
// (tests/fuzz covers odd widths).
absl::StatusOr<std::string> EncodePng(const RgbFrame& rgb) {
  absl::StatusOr<AvCodecContextPtr> ctx =
      OpenEncoder(AV_CODEC_ID_PNG, rgb, AV_PIX_FMT_RGB24, "PNG");
  if (!ctx.ok()) return ctx.status();
  AvFramePtr frame(av_frame_alloc());
  if (!frame) return absl::ResourceExhaustedError("out of memory");
  frame->format = AV_PIX_FMT_RGB24;
  frame->width = rgb.width;
  frame->height = rgb.height;
  // Not reference-counted: the encoder reads the pixels where they are.
  frame->data[0] = const_cast<uint8_t*>(rgb.pixels.data());
  frame->linesize[0] = rgb.width * 3;
  return EncodeOne(ctx->get(), frame.get(), "PNG");
}

// `rgb` in a picture of even sides, its last column and row repeated where
// a side is odd (and swscale's padding after each row).
absl::StatusOr<AvFramePtr> EvenRgbCopy(const RgbFrame& rgb) {
  const int width = (rgb.width + 1) & ~1;
  const int height = (rgb.height + 1) & ~1;
  absl::StatusOr<AvFramePtr> even = media::MakeVideoFrame(
      AV_PIX_FMT_RGB24, width, height, "allocating the JPEG's picture");
  if (!even.ok()) return even.status();
  AVFrame* f = even->get();
  std::memset(f->buf[0]->data, 0, f->buf[0]->size);  // read, and discarded
  const size_t row_bytes = static_cast<size_t>(rgb.width) * 3;
  for (int y = 0; y < height; ++y) {
    uint8_t* row = f->data[0] + static_cast<ptrdiff_t>(y) * f->linesize[0];
    std::memcpy(row,
                rgb.pixels.data() + std::min(y, rgb.height - 1) * row_bytes,
                row_bytes);
    if (width != rgb.width)
      std::memcpy(row + row_bytes, row + row_bytes - 3, 3);
  }
  return even;
}

absl::StatusOr<std::string> EncodeJpeg(const RgbFrame& rgb) {
  absl::StatusOr<AvCodecContextPtr> ctx =
      OpenEncoder(AV_CODEC_ID_MJPEG, rgb, AV_PIX_FMT_YUVJ420P, "JPEG");
  if (!ctx.ok()) return ctx.status();
  // 4:2:0 chroma of a picture of even sides: with an odd side, the last
  // chroma sample covers one column (or row) of pixels, and swscale gave it
  // half its colour (an odd width) or a mix with its neighbour (an odd
  // height) whatever its flags. Converted from a copy whose last column
  // and row are repeated, that sample is the mean of its own pixels; the
  // frame is then cropped to the picture's size for the encoder.
  absl::StatusOr<AvFramePtr> even = EvenRgbCopy(rgb);
  if (!even.ok()) return even.status();
  const int width = (*even)->width;
  const int height = (*even)->height;
  AvFramePtr frame(av_frame_alloc());
  if (!frame) return absl::ResourceExhaustedError("out of memory");
  frame->format = AV_PIX_FMT_YUVJ420P;
  frame->width = width;
  frame->height = height;
  frame->color_range = AVCOL_RANGE_JPEG;
  int rc = av_frame_get_buffer(frame.get(), 0);
  if (rc < 0) {
    return media::AvError(rc, "cannot allocate the JPEG frame");
  }
  // Same planes as yuvj420p; the plain name plus a full-range flag keeps
  // swscale from warning about the deprecated "J" formats.
  // SWS_FULL_CHR_H_INP: chroma from every pixel, then filtered (the default
  // averages pixel pairs).
  SwsContextPtr sws(sws_getContext(
      width, height, AV_PIX_FMT_RGB24, width, height, AV_PIX_FMT_YUV420P,
      SWS_BICUBIC | SWS_ACCURATE_RND | SWS_FULL_CHR_H_INP, nullptr, nullptr,
      nullptr));
  if (!sws) return absl::InternalError("cannot convert RGB to YUV for JPEG");
  const int* coefs = sws_getCoefficients(SWS_CS_ITU601);
  sws_setColorspaceDetails(sws.get(), coefs, 1, coefs, 1, 0, 1 << 16, 1 << 16);
  sws_scale(sws.get(), (*even)->data, (*even)->linesize, 0, height, frame->data,
            frame->linesize);
  frame->width = rgb.width;
  frame->height = rgb.height;
  return EncodeOne(ctx->get(), frame.get(), "JPEG");
}

}  // namespace

v1::ImageFormat ResolveOutputFormat(v1::ImageFormat requested,
                                    const v1::Image& input) {
  if (requested != v1::IMAGE_FORMAT_UNSPECIFIED) return requested;
  return input.data_case() == v1::Image::kRaw ? v1::IMAGE_FORMAT_RAW
                                              : v1::IMAGE_FORMAT_PNG;
}

absl::Status CheckOutputs(v1::ImageFormat format, int width, int height,
                          int64_t styles, int64_t max_message_bytes) {
  if (!v1::ImageFormat_IsValid(format) ||
      format == v1::IMAGE_FORMAT_UNSPECIFIED) {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown output_format ", static_cast<int>(format)));
  }
  const bool jpeg = format == v1::IMAGE_FORMAT_JPEG;
  if (jpeg && std::max(width, height) > kMaxJpegSide) {
    return absl::InvalidArgumentError(absl::StrCat(
        "a ", width, "x", height, " frame cannot be answered as JPEG (at most ",
        kMaxJpegSide, " pixels a side); ask for PNG or RAW"));
  }
  // PNG's worst case (noise) is the raw size plus a filter byte a row and
  // zlib's few bytes per 16 KiB block; 1 KiB per output covers the rest.
  const int64_t pixels = int64_t{width} * height;
  const int64_t each =
      (jpeg ? pixels * 3 / 2 : pixels * 3 + pixels * 3 / 1024 + height) + 1024;
  const int64_t needed = each * styles;
  if (needed > max_message_bytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the ", styles, styles == 1 ? " output" : " outputs", " of a ", width,
        "x", height, " frame as ", v1::ImageFormat_Name(format), " may need ",
        needed, " bytes, more than the server sends in one message ",
        "(--max_send_message_bytes, ", max_message_bytes,
        "); ask for fewer styles per request", jpeg ? "" : ", JPEG",
        " or a smaller frame"));
  }
  return absl::OkStatus();
}

absl::Status EncodeImage(const RgbFrame& frame, v1::ImageFormat format,
                         v1::Image* out) {
  switch (format) {
    case v1::IMAGE_FORMAT_RAW: {
      v1::RawImage* raw = out->mutable_raw();
      raw->set_width(frame.width);
      raw->set_height(frame.height);
      raw->set_rgb(frame.pixels.data(), frame.pixels.size());
      return absl::OkStatus();
    }
    case v1::IMAGE_FORMAT_UNSPECIFIED:
    case v1::IMAGE_FORMAT_PNG: {
      absl::StatusOr<std::string> png = EncodePng(frame);
      if (!png.ok()) return png.status();
      out->set_encoded(*std::move(png));
      return absl::OkStatus();
    }
    case v1::IMAGE_FORMAT_JPEG: {
      absl::StatusOr<std::string> jpeg = EncodeJpeg(frame);
      if (!jpeg.ok()) return jpeg.status();
      out->set_encoded(*std::move(jpeg));
      return absl::OkStatus();
    }
    default:
      return absl::InvalidArgumentError(absl::StrCat(
          "unknown output_format ", static_cast<int>(format),
          "; use IMAGE_FORMAT_PNG, IMAGE_FORMAT_JPEG or IMAGE_FORMAT_RAW"));
  }
}

}  // namespace stylizer
