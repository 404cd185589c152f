// PNG / JPEG / raw image coding with FFmpeg; see image_codec.h.
#include "server/service/image_codec.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "server/common/image_kind.h"
#include "server/media/av_util.h"
#include "server/media/frame_convert.h"
#include "server/media/frame_shape.h"
#include "server/media/pixel_format.h"
#include "server/service/image_alpha.h"
#include "server/service/image_orientation.h"
#include "server/service/image_structure.h"

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavutil/error.h>
#include <libavutil/frame.h>
#include <libavutil/imgutils.h>
#include <libavutil/intreadwrite.h>
#include <libavutil/pixdesc.h>
#include <libswscale/swscale.h>
}

namespace stylizer {
namespace {

using media::AvCodecContextPtr;
using media::AvFramePtr;
using media::AvPacketPtr;
using media::SwsContextPtr;

constexpr unsigned char kPngSignature[8] = {0x89, 'P',  'N',  'G',
                                            '\r', '\n', 0x1a, '\n'};

bool IsPng(absl::string_view d) {
  return d.size() >= 8 && std::memcmp(d.data(), kPngSignature, 8) == 0;
}
bool IsJpeg(absl::string_view d) {
  return d.size() >= 3 && static_cast<uint8_t>(d[0]) == 0xFF &&
         static_cast<uint8_t>(d[1]) == 0xD8 &&
         static_cast<uint8_t>(d[2]) == 0xFF;
}

absl::StatusOr<ImageSize> ProbePng(absl::string_view d) {
  // Signature (8), chunk length (4), "IHDR" (4), width (4), height (4).
  const auto* p = reinterpret_cast<const unsigned char*>(d.data());
  if (d.size() < 24 || std::memcmp(p + 12, "IHDR", 4) != 0) {
    return absl::InvalidArgumentError(
        "the PNG image is truncated or damaged: no IHDR header");
  }
  const uint32_t w = AV_RB32(p + 16), h = AV_RB32(p + 20);
  if (w == 0 || h == 0 || w > 0x7fffffff || h > 0x7fffffff) {
    return absl::InvalidArgumentError(
        absl::StrCat("the PNG header gives an invalid size ", w, "x", h));
  }
  return ImageSize{static_cast<int>(w), static_cast<int>(h)};
}

absl::StatusOr<ImageSize> ProbeJpeg(absl::string_view d) {
  const auto* p = reinterpret_cast<const unsigned char*>(d.data());
  size_t i = 2;  // after SOI
  while (i + 4 <= d.size()) {
    if (p[i] != 0xFF) {
      return absl::InvalidArgumentError(
          "the JPEG image is damaged: expected a marker before the frame "
          "header");
    }
    const uint8_t marker = p[i + 1];
    if (marker == 0xFF) {  // fill byte
      ++i;
      continue;
    }
    if (marker == 0xD8 || marker == 0x01 ||
        (marker >= 0xD0 && marker <= 0xD7)) {
      i += 2;  // markers without a length
      continue;
    }
    if (marker < 0xC0) {
      // Not a marker to FFmpeg's decoder, which would look for one inside
      // what follows rather than skip it by a length (see image_structure.h);
      // the probe must not find a frame header that the decoder does not.
      return absl::InvalidArgumentError(absl::StrFormat(
          "the JPEG image is damaged: 0xFF%02X at byte %d is not a marker",
          marker, i));
    }
    const uint16_t length = AV_RB16(p + i + 2);
    const bool sof = marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 &&
                     marker != 0xC8 && marker != 0xCC;
    if (sof) {
      // length(2) precision(1) height(2) width(2)
      if (i + 9 > d.size()) break;
      const int h = AV_RB16(p + i + 5), w = AV_RB16(p + i + 7);
      if (w == 0 || h == 0) {
        return absl::InvalidArgumentError(
            absl::StrCat("the JPEG header gives an invalid size ", w, "x", h));
      }
      return ImageSize{w, h};
    }
    if (marker == 0xD9 || marker == 0xDA || length < 2) break;
    i += 2 + length;
  }
  return absl::InvalidArgumentError(
      "the JPEG image is truncated or damaged: no frame header");
}

// The pixel limit on the picture as sent, then the shape rule
// (media/frame_shape.h) on the picture the model gets: with max_side, the
// scaled one (a 5000x20 strip scaled to 200x1 is a small frame, not a thin
// one).
absl::Status CheckSize(uint64_t width, uint64_t height, uint64_t max_pixels,
                       uint32_t max_side) {
  if (width * height > max_pixels) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the image is ", width, "x", height, " (", width * height,
        " pixels), over ",
        max_side > 0
            ? absl::StrCat(
                  "the largest picture the server scales down, ", max_pixels,
                  " pixels",
                  max_pixels == kMaxImagePixelsToScale ? " (8192x8192)" : "")
            : absl::StrCat("the server's limit of ", max_pixels, " pixels"),
        "; downscale it first"));
  }
  const ImageSize scaled = ScaledImageSize(
      ImageSize{static_cast<int>(width), static_cast<int>(height)}, max_side);
  return media::CheckFrameShape(scaled.width, scaled.height);
}

// Converts a decoded picture to RGB24 of `target` size: the picture's own,
// or smaller (max_side), then averaged over the area each output pixel
// covers. A picture with alpha is first flattened over white at its own
// size: a filter over straight alpha would darken the edges of what is
// opaque.
absl::Status ToRgb(const AVFrame& decoded, ImageSize target, RgbFrame* out) {
  const bool scaled =
      target.width != decoded.width || target.height != decoded.height;
  const AVFrame* frame = &decoded;
  AvFramePtr flat;
  if (HasAlphaToFlatten(decoded.format)) {
    if (!scaled) {
      out->width = decoded.width;
      out->height = decoded.height;
      const size_t bytes =
          static_cast<size_t>(decoded.width) * decoded.height * 3;
      out->pixels.reserve(bytes + media::kSwsPaddingBytes);
      out->pixels.resize(bytes);
      FlattenOverWhite(decoded, out->pixels.data(), decoded.width * 3);
      return absl::OkStatus();
    }
    // swscale's input: padded rows (see media::CopyToPaddedRgb).
    absl::StatusOr<AvFramePtr> made =
        media::MakeVideoFrame(AV_PIX_FMT_RGB24, decoded.width, decoded.height,
                              "allocating the flattened picture");
    if (!made.ok()) return made.status();
    flat = *std::move(made);
    std::memset(flat->buf[0]->data, 0, flat->buf[0]->size);
    FlattenOverWhite(decoded, flat->data[0], flat->linesize[0]);
    frame = flat.get();
  }
  bool full_range = frame->color_range == AVCOL_RANGE_JPEG;
  const AVPixelFormat src =
      PlainPixelFormat(static_cast<AVPixelFormat>(frame->format), &full_range);
  // A YUV picture (JPEG) goes through planes, which swscale writes 4 to 7
  // times faster (media::PackGbrp); RGB ones (PNG) have direct packers.
  const bool yuv = IsYuv(src);
  SwsContextPtr sws(sws_getContext(
      frame->width, frame->height, src, target.width, target.height,
      yuv ? AV_PIX_FMT_GBRP : AV_PIX_FMT_RGB24,
      (scaled ? SWS_AREA : SWS_BICUBIC) | SWS_ACCURATE_RND | SWS_FULL_CHR_H_INT,
      nullptr, nullptr, nullptr));
  if (sws == nullptr) {
    const char* name = av_get_pix_fmt_name(src);
    return absl::InvalidArgumentError(
        absl::StrCat("the image's pixel format ", name ? name : "unknown",
                     " cannot be converted to RGB"));
  }
  if (yuv) {
    const int* coefs = sws_getCoefficients(SWS_CS_ITU601);
    sws_setColorspaceDetails(sws.get(), coefs, full_range ? 1 : 0, coefs, 1, 0,
                             1 << 16, 1 << 16);
    absl::StatusOr<AvFramePtr> planes =
        media::MakeVideoFrame(AV_PIX_FMT_GBRP, target.width, target.height,
                              "allocating the RGB planes");
    if (!planes.ok()) return planes.status();
    const int rows =
        sws_scale(sws.get(), frame->data, frame->linesize, 0, frame->height,
                  (*planes)->data, (*planes)->linesize);
    if (rows != target.height) {
      return media::AvError(rows, "converting the image to RGB failed");
    }
    media::PackGbrp(**planes, out);
    return absl::OkStatus();
  }
  out->width = target.width;
  out->height = target.height;
  const size_t bytes = static_cast<size_t>(target.width) * target.height * 3;
  out->pixels.reserve(bytes + media::kSwsPaddingBytes);
  out->pixels.resize(bytes);
  uint8_t* dst[4] = {out->pixels.data(), nullptr, nullptr, nullptr};
  int dst_stride[4] = {target.width * 3, 0, 0, 0};
  const int rows = sws_scale(sws.get(), frame->data, frame->linesize, 0,
                             frame->height, dst, dst_stride);
  if (rows != target.height) {
    return media::AvError(rows, "converting the image to RGB failed");
  }
  return absl::OkStatus();
}

// The decoder's get_buffer2 while decoding an image: it may allocate one
// picture, of the size that ProbeImageSize read from the header and that the
// callers checked (and StylizeImage reserved memory for). A JPEG decoder
// allocates a picture for each frame header it finds, at that header's size;
// the marker walk leaves one, and this holds whatever the walk missed.
struct PictureGuard {
  ImageSize expected;
  int pictures = 0;
  ImageSize refused;  // the size of the picture refused, if any
};

int GetProbedPictureBuffer(AVCodecContext* ctx, AVFrame* frame, int flags) {
  auto* guard = static_cast<PictureGuard*>(ctx->opaque);
  if (++guard->pictures > 1 || frame->width != guard->expected.width ||
      frame->height != guard->expected.height) {
    guard->refused = ImageSize{frame->width, frame->height};
    return AVERROR_INVALIDDATA;
  }
  return avcodec_default_get_buffer2(ctx, frame, flags);
}

absl::Status SizeDiffersFromHeader(const char* kind, int width, int height,
                                   const ImageSize& header) {
  return absl::InvalidArgumentError(
      absl::StrCat("the ", kind, " image is inconsistent: its decoded size ",
                   width, "x", height, " differs from its header (",
                   header.width, "x", header.height, "); re-encode it"));
}

// `size` is what ProbeImageSize read from `data`, already checked.
absl::StatusOr<RgbFrame> DecodeEncoded(absl::string_view data, bool png,
                                       const ImageSize& size,
                                       const ImageSize& target) {
  const char* kind = png ? "PNG" : "JPEG";
  // The decoders accept cut-off files (and return what they could decode),
  // so completeness is checked on the file's structure first; what they are
  // given is the checked file without its metadata.
  int orientation = 0;
  absl::StatusOr<std::string> checked =
      png ? CheckPngAndDropMetadata(data, &orientation)
          : CheckJpegAndDropMetadata(data, &orientation);
  if (!checked.ok()) return checked.status();
  data = *checked;
  const AVCodec* codec =
      avcodec_find_decoder(png ? AV_CODEC_ID_PNG : AV_CODEC_ID_MJPEG);
  if (codec == nullptr) {
    return absl::InternalError(
        absl::StrCat("this FFmpeg build has no ", kind, " decoder"));
  }
  AvCodecContextPtr ctx(avcodec_alloc_context3(codec));
  AvPacketPtr packet(av_packet_alloc());
  AvFramePtr frame(av_frame_alloc());
  if (!ctx || !packet || !frame) {
    return absl::ResourceExhaustedError("out of memory decoding an image");
  }
  // Second line of defence behind ProbeImageSize and the structure checks:
  // the decoder allocates one picture, of the probed size, and nothing
  // larger. Its own pixel check counts the width rounded up to its SIMD
  // alignment (at most 64), so the limit allows for that: the exact count
  // refused pictures inside the server's limit whose width is not a multiple
  // of it (4000x2211 with a 4096x2160 limit).
  PictureGuard guard;
  guard.expected = size;
  ctx->opaque = &guard;
  ctx->get_buffer2 = GetProbedPictureBuffer;
  ctx->max_pixels = (static_cast<int64_t>(size.width) + 63) / 64 * 64 *
                    static_cast<int64_t>(size.height);
  ctx->thread_count = 1;
  // Damaged data is an error, not a partly grey picture: check chunk CRCs
  // (PNG) and stop at the first bitstream error (AV_EF_EXPLODE).
  ctx->err_recognition = AV_EF_CRCCHECK | AV_EF_EXPLODE;
  int rc = avcodec_open2(ctx.get(), codec, nullptr);
  if (rc < 0) {
    return media::AvError(rc,
                          absl::StrCat("cannot open the ", kind, " decoder"));
  }
  if (data.size() >
      static_cast<size_t>(INT32_MAX - AV_INPUT_BUFFER_PADDING_SIZE)) {
    return absl::InvalidArgumentError("the encoded image is too large");
  }
  rc = av_new_packet(packet.get(), static_cast<int>(data.size()));
  if (rc < 0) {
    return media::AvError(rc, "cannot allocate the image packet");
  }
  std::memcpy(packet->data, data.data(), data.size());
  rc = avcodec_send_packet(ctx.get(), packet.get());
  if (rc >= 0) rc = avcodec_send_packet(ctx.get(), nullptr);  // flush
  if (rc >= 0 || rc == AVERROR_EOF)
    rc = avcodec_receive_frame(ctx.get(), frame.get());
  if (guard.pictures > 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("the ", kind,
                     " image is inconsistent: it holds more than one picture; "
                     "re-encode it"));
  }
  if (guard.refused.width != 0 || guard.refused.height != 0) {
    return SizeDiffersFromHeader(kind, guard.refused.width,
                                 guard.refused.height, size);
  }
  if (rc < 0) {
    return media::AvError(
        rc, absl::StrCat("the ", kind, " image cannot be decoded"),
        absl::StatusCode::kInvalidArgument);
  }
  if (frame->decode_error_flags != 0 ||
      (frame->flags & AV_FRAME_FLAG_CORRUPT)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the ", kind, " image is damaged: parts of it cannot be decoded"));
  }
  if (frame->width <= 0 || frame->height <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("the ", kind, " image decoded to an empty picture"));
  }
  if (frame->width != size.width || frame->height != size.height) {
    return SizeDiffersFromHeader(kind, frame->width, frame->height, size);
  }
  RgbFrame out;
  if (absl::Status s = ToRgb(*frame, target, &out); !s.ok()) return s;
  frame.reset();  // before the turned copy is made
  if (absl::Status s = ApplyExifOrientation(orientation, &out); !s.ok()) {
    return s;
  }
  return out;
}

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

absl::StatusOr<ImageSize> ProbeImageSize(absl::string_view encoded) {
  if (IsPng(encoded)) return ProbePng(encoded);
  if (IsJpeg(encoded)) return ProbeJpeg(encoded);
  std::string head;
  for (size_t i = 0; i < std::min<size_t>(encoded.size(), 8); ++i) {
    absl::StrAppendFormat(&head, "%02x", static_cast<uint8_t>(encoded[i]));
  }
  if (absl::string_view kind = OtherImageKind(encoded); !kind.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "image.encoded is a ", kind, " image (it starts with bytes ", head,
        "), which this server does not decode; convert it to PNG or JPEG, or "
        "send raw RGB in image.raw"));
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "image.encoded is neither PNG nor JPEG (it starts with bytes ",
      head.empty() ? "<none>" : head,
      "); send a PNG or JPEG file, or raw RGB in image.raw"));
}

ImageSize DecodedSize(const v1::Image& image, uint64_t max_pixels) {
  uint64_t width = 0;
  uint64_t height = 0;
  if (image.has_raw()) {
    width = image.raw().width();
    height = image.raw().height();
  } else {
    absl::StatusOr<ImageSize> size = ProbeImageSize(image.encoded());
    if (!size.ok()) return ImageSize();
    width = static_cast<uint64_t>(size->width);
    height = static_cast<uint64_t>(size->height);
  }
  if (width == 0 || height == 0 || width > max_pixels || height > max_pixels ||
      width * height > max_pixels ||
      (image.has_raw() && image.raw().rgb().size() != width * height * 3)) {
    return ImageSize();
  }
  return ImageSize{static_cast<int>(width), static_cast<int>(height)};
}

int64_t ScalingWorkBytes(const v1::Image& image, ImageSize size) {
  const int64_t pixels = int64_t{size.width} * size.height;
  if (!image.has_encoded()) return pixels * 3;  // the padded copy
  const std::string& data = image.encoded();
  if (!IsPng(data) || data.size() < 26) return pixels * 4;  // JPEG
  // IHDR: width, height, bit depth (byte 24), colour type (byte 25).
  const int depth = static_cast<uint8_t>(data[24]);
  const int colour_type = static_cast<uint8_t>(data[25]);
  // Samples a pixel as decoded, by colour type: grey and RGB may carry a
  // tRNS chunk, which the decoder turns into an alpha channel, so every PNG
  // is counted with one (grey 0 -> 2, RGB 2 -> 4, palette 3 -> 1 index,
  // grey and alpha 4 -> 2, RGBA 6 -> 4).
  const int channels = colour_type == 3                       ? 1
                       : colour_type == 0 || colour_type == 4 ? 2
                                                              : 4;
  const int64_t decoded = pixels * channels * (depth == 16 ? 2 : 1);
  return decoded + pixels * 3;  // and the flattened copy
}

ImageSize ScaledImageSize(ImageSize size, uint32_t max_side) {
  const int longer = std::max(size.width, size.height);
  if (max_side == 0 || longer <= 0 ||
      static_cast<uint32_t>(longer) <= max_side) {
    return size;
  }
  const double scale = static_cast<double>(max_side) / longer;
  auto side = [&](int s) {
    return s == longer ? static_cast<int>(max_side)
                       : std::max(1, static_cast<int>(std::lround(s * scale)));
  };
  return ImageSize{side(size.width), side(size.height)};
}

absl::StatusOr<RgbFrame> DecodeImage(const v1::Image& image,
                                     uint64_t max_pixels, uint32_t max_side) {
  switch (image.data_case()) {
    case v1::Image::kEncoded: {
      const std::string& data = image.encoded();
      if (data.empty()) {
        return absl::InvalidArgumentError("image.encoded is empty");
      }
      absl::StatusOr<ImageSize> size = ProbeImageSize(data);
      if (!size.ok()) return size.status();
      if (absl::Status s =
              CheckSize(size->width, size->height, max_pixels, max_side);
          !s.ok()) {
        return s;
      }
      return DecodeEncoded(data, IsPng(data), *size,
                           ScaledImageSize(*size, max_side));
    }
    case v1::Image::kRaw: {
      const v1::RawImage& raw = image.raw();
      if (raw.width() == 0 || raw.height() == 0) {
        return absl::InvalidArgumentError(
            absl::StrCat("image.raw has size ", raw.width(), "x", raw.height(),
                         "; width and height must be positive"));
      }
      if (absl::Status s =
              CheckSize(raw.width(), raw.height(), max_pixels, max_side);
          !s.ok()) {
        return s;
      }
      const uint64_t expected = uint64_t{raw.width()} * raw.height() * 3;
      if (raw.rgb().size() != expected) {
        return absl::InvalidArgumentError(absl::StrCat(
            "image.raw.rgb has ", raw.rgb().size(), " bytes but ", raw.width(),
            "x", raw.height(), " RGB24 needs ", expected));
      }
      RgbFrame out;
      out.width = static_cast<int>(raw.width());
      out.height = static_cast<int>(raw.height());
      const ImageSize target =
          ScaledImageSize(ImageSize{out.width, out.height}, max_side);
      if (target.width != out.width || target.height != out.height) {
        // The pixels as a decoded picture, with the padding swscale reads
        // (media::CopyToPaddedRgb).
        absl::StatusOr<AvFramePtr> padded = media::MakeVideoFrame(
            AV_PIX_FMT_RGB24, out.width, out.height, "allocating the picture");
        if (!padded.ok()) return padded.status();
        std::memset((*padded)->buf[0]->data, 0, (*padded)->buf[0]->size);
        av_image_copy_plane((*padded)->data[0], (*padded)->linesize[0],
                            reinterpret_cast<const uint8_t*>(raw.rgb().data()),
                            out.width * 3, out.width * 3, out.height);
        if (absl::Status s = ToRgb(**padded, target, &out); !s.ok()) return s;
        return out;
      }
      out.pixels.assign(raw.rgb().begin(), raw.rgb().end());
      return out;
    }
    default:
      return absl::InvalidArgumentError(
          "the request has no image: set image.encoded (PNG/JPEG) or "
          "image.raw");
  }
}

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
