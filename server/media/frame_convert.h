// Pixel conversions between decoded frames, the model's packed RGB24 frames
// and the encoder's YUV 4:2:0 frames (swscale), plus the output-size rule:
// the longer side at most max_side, aspect kept, both sides even.
#ifndef STYLIZER_SERVER_MEDIA_FRAME_CONVERT_H_
#define STYLIZER_SERVER_MEDIA_FRAME_CONVERT_H_

#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "server/batching/job_queue.h"
#include "server/media/av_util.h"
#include "server/media/yuv_matrix.h"

namespace stylizer {
namespace media {

// The size frames are stylized and encoded at for a `width` x `height` input:
// scaled down (never up) so that the longer side is at most `max_side` when
// max_side > 0, then rounded down to even sides (4:2:0 needs them; an odd
// input loses its last row or column rather than being resampled), at least
// 2 x 2.
std::pair<int, int> OutputSize(int width, int height, int max_side);

class HdrToSdr;

// Decoded frames (any pixel format and size) -> RGB24 at a fixed size; YUV
// frames are read with the matrix YuvMatrix gives for their tag and size.
// With `hdr_to_sdr` (HdrToSdr::ForStream of an HDR stream), frames are read
// at 16 bits per component and tone-mapped to SDR BT.709, with the peak of
// the first frame's HDR10 side data where the container gave none. SDR
// frames with transparency (ProRes 4444, QuickTime Animation, PNG and APNG,
// GIF) are composited over white at their own size first, as StylizeImage
// does.
class RgbConverter {
 public:
  RgbConverter(int out_width, int out_height,
               std::shared_ptr<const HdrToSdr> hdr_to_sdr = nullptr);
  ~RgbConverter();

  // Converts `frame` to out_width x out_height packed RGB24 into *out.
  // Frames of a different size are cropped to even sides when that alone
  // fits, otherwise scaled (bicubic). A frame marked interlaced is read as
  // its first field, scaled to the full height (docs/video.md).
  absl::Status Convert(const AVFrame& frame, RgbFrame* out);

  // Whether frames marked interlaced hold two fields (default), or one
  // each: FFmpeg's HEVC decoder gives every field as a picture of its own,
  // marked interlaced, which must be read whole.
  void set_read_fields(bool read_fields) { read_fields_ = read_fields; }

 private:
  int out_width_;
  int out_height_;
  std::shared_ptr<const HdrToSdr> hdr_to_sdr_;
  bool frame_peak_checked_ = false;  // HdrToSdr::WithPeakOf, once
  bool read_fields_ = true;
  // Reads the pixels of `frame` in `data` (`format`, width x height: its
  // plain format, maybe one field), which has transparency, as GBRP at that
  // size, composited over white, into alpha_planes_; points data and
  // linesize at it.
  absl::Status FlattenOverWhite(const AVFrame& frame, AVPixelFormat format,
                                int width, int height, const uint8_t* data[],
                                int linesize[]);

  AvFramePtr planes_;  // swscale's output: GBRP, or GBRP16 with hdr_to_sdr_
  SwsContextPtr sws_;
  AvFramePtr alpha_planes_;  // GBRAP at the input's size (FlattenOverWhite)
  SwsContextPtr alpha_sws_;
};

// Packs a GBRP frame's planes into *out, packed RGB24 of the frame's size.
// swscale writes planes 4 to 7 times faster than packed RGB24 (its planar
// writers are SIMD, its packed one with full chroma interpolation is not),
// with the same values: converters have it write GBRP, then call this.
void PackGbrp(const AVFrame& gbrp, RgbFrame* out);

// Copies `rgb` into *frame, an RGB24 AVFrame with av_frame_get_buffer's
// padding after every row and after the last, made (and its padding zeroed)
// when *frame is null or of another size, else reused. swscale's SIMD input
// code reads up to 16 bytes past the end of a row, so it must never be given
// an RgbFrame's own vector: for the last row that read leaves the buffer
// (the image fuzzer found it for still images, a 1x30 frame; the movie path
// fuzzer for stylized 2x32 frames, a SEGV when the vector ended at a page).
absl::Status CopyToPaddedRgb(const RgbFrame& rgb, AvFramePtr* frame);

// Spare capacity kept after the pixels of an RgbFrame that swscale writes.
inline constexpr size_t kSwsPaddingBytes = 64;

// YuvMatrix (yuv_matrix.h) gives the matrix of both converters.

// RGB24 -> YUV 4:2:0 for the encoder, limited range, with the matrix
// YuvMatrix gives for an input tagged `input_colorspace` at this size; the
// chroma is every pixel's, halved across and down by a bicubic filter.
class YuvConverter {
 public:
  YuvConverter(int width, int height, AVColorSpace input_colorspace)
      : width_(width),
        height_(height),
        colorspace_(YuvMatrix(input_colorspace, width, height)) {}

  // Returns a yuv420p frame of width x height holding `rgb`: a reference to
  // the buffers of the last call's frame when no other reference to them is
  // left, else to new ones.
  absl::StatusOr<AvFramePtr> Convert(const RgbFrame& rgb);

  // The matrix the frames are made with: what the output must be tagged.
  AVColorSpace colorspace() const { return colorspace_; }

 private:
  int width_;
  int height_;
  AVColorSpace colorspace_;  // as YuvMatrix gives it
  SwsContextPtr sws_;
  AvFramePtr padded_;  // swscale's input: see CopyToPaddedRgb
  AvFramePtr last_;    // the buffers of the last frame returned
};

}  // namespace media
}  // namespace stylizer

#endif  // STYLIZER_SERVER_MEDIA_FRAME_CONVERT_H_
