// PNG, JPEG and raw images decoded to RGB24; see image_codec.h.
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "server/media/av_util.h"
#include "server/media/frame_convert.h"
#include "server/media/frame_shape.h"
#include "server/media/pixel_format.h"
#include "server/service/image_alpha.h"
#include "server/service/image_codec.h"
#include "server/service/image_orientation.h"
#include "server/service/image_probe.h"
#include "server/service/image_structure.h"

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavutil/error.h>
#include <libavutil/frame.h>
#include <libavutil/imgutils.h>
#include <libavutil/pixdesc.h>
#include <libswscale/swscale.h>
}

namespace stylizer {
namespace {

using media::AvCodecContextPtr;
using media::AvFramePtr;
using media::AvPacketPtr;
using media::SwsContextPtr;

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

}  // namespace

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

}  // namespace stylizer
