// Still-image coding for the RPC layer: PNG and JPEG in and out through
// FFmpeg's image codecs (libavcodec png / mjpeg, libswscale), raw RGB24 in and
// out, and the pixel limit and the frame shape rule checked from the header
// before anything is allocated. Defined in image_probe.cc (sizes from the
// headers), image_decode.cc and image_encode.cc.
#ifndef STYLIZER_SERVER_SERVICE_IMAGE_CODEC_H_
#define STYLIZER_SERVER_SERVICE_IMAGE_CODEC_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "server/batching/job_queue.h"
#include "stylizer/v1/stylizer.pb.h"

namespace stylizer {

// Width and height as stored in a PNG or JPEG header.
struct ImageSize {
  int width = 0;
  int height = 0;
};

// Reads the size of a PNG (IHDR) or JPEG (first SOFn marker) without decoding.
// INVALID_ARGUMENT if `encoded` is neither or its header is damaged.
// DecodeImage refuses a JPEG with more than one SOFn marker, so this is the
// size it decodes (what StylizeImage reserves memory for).
absl::StatusOr<ImageSize> ProbeImageSize(absl::string_view encoded);

// The size of the RGB24 frame DecodeImage makes of `image`, from the PNG or
// JPEG header or the raw fields, before decoding; 0x0 where DecodeImage
// refuses the image before allocating it: an undecodable header, a side of
// 0, a size over `max_pixels` (each side checked first, so that the product
// cannot overflow), raw pixels of the wrong length. What a call reserves in
// the memory budget for before it decodes.
ImageSize DecodedSize(const v1::Image& image, uint64_t max_pixels);

// Decodes `image` (PNG, JPEG, or raw RGB24) into RGB24. A picture with alpha
// is composited over white (image_alpha.h), 16-bit samples are reduced to 8,
// grey and palette images are expanded;
// metadata is ignored (compressed PNG metadata and JPEG APPn metadata
// segments are dropped unread, see image_structure.h). Returns
// INVALID_ARGUMENT for an empty, undecodable, truncated, damaged or
// inconsistent image (a JPEG with more than one frame header, a decoded size
// other than the header's), a JPEG of more than kMaxJpegScans scans
// (image_structure.h), and for one over `max_pixels` or whose picture
// (scaled by `max_side`) has a shape media::CheckFrameShape refuses (both
// checked before decoding).
// The decoder may allocate only one picture, of the size ProbeImageSize
// reads.
//
// With `max_side`, the picture comes out at ScaledImageSize (before its EXIF
// orientation turns it), each output pixel the average of the area it
// covers; `max_pixels` still limits the picture decoded.
absl::StatusOr<RgbFrame> DecodeImage(const v1::Image& image,
                                     uint64_t max_pixels,
                                     uint32_t max_side = 0);

// The most pixels a still image sent with max_side may have (the frame
// limit, --max_frame_pixels, applies to the picture it is scaled to): what
// a movie's decoder takes, and a 50-megapixel camera's photos.
inline constexpr uint64_t kMaxImagePixelsToScale = uint64_t{8192} * 8192;

// The most bytes decoding `image`, of `size` pixels, holds at once besides
// its output when it is scaled (max_side): the decoder's own picture (a PNG's
// by its colour type and bit depth, up to 8 bytes a pixel) and, for a PNG
// (any may have alpha: a tRNS chunk), the copy flattened over white (3); for
// a JPEG, what its frame header says the decoder holds: the picture at its
// chroma layout and, for a progressive file, 2 bytes a sample of
// coefficients, plus an eighth (4:2:0 1.7 bytes a pixel, 4:4:4 3.4, CMYK
// 4.5; progressive 5.1, 10.1 and 13.5); for a raw picture, its padded copy
// (3).
int64_t ScalingWorkBytes(const v1::Image& image, ImageSize size);

// The size a picture of `size` is stylized at with `max_side` (0: its own):
// the longer side at most max_side, the aspect kept (the shorter side
// rounded, at least 1); never larger. The same whichever way it is turned.
ImageSize ScaledImageSize(ImageSize size, uint32_t max_side);

// The format to answer in: `requested`, or when unspecified RAW for a raw
// input and PNG for an encoded one.
v1::ImageFormat ResolveOutputFormat(v1::ImageFormat requested,
                                    const v1::Image& input);

// Largest side FFmpeg's JPEG encoder writes (the format's own limit is 65535).
inline constexpr int kMaxJpegSide = 65500;

// OK if `styles` outputs of a width x height frame can be answered in
// `format` (a resolved one: not UNSPECIFIED) within one message of at most
// `max_message_bytes`: a known format, JPEG sides of at most kMaxJpegSide,
// and the outputs' largest size (RAW and PNG: about 3 bytes a pixel, JPEG
// 4:2:0: 1.5) within the limit. Else INVALID_ARGUMENT saying what to ask for
// instead. Checked before the frame is queued: the encoder's failure, or
// gRPC's refusal of the message, came only after the model had run.
absl::Status CheckOutputs(v1::ImageFormat format, int width, int height,
                          int64_t styles, int64_t max_message_bytes);

// Encodes `frame` as `format` (PNG, JPEG at quantiser scale 2, or RAW) into
// *out. INVALID_ARGUMENT for an unknown format, INTERNAL if the encoder fails.
absl::Status EncodeImage(const RgbFrame& frame, v1::ImageFormat format,
                         v1::Image* out);

}  // namespace stylizer

#endif  // STYLIZER_SERVER_SERVICE_IMAGE_CODEC_H_
