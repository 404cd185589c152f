// The YCbCr matrix rule of every conversion between a movie's frames and
// RGB: the server's (frames to the model, stylized frames to the encoder)
// and the CLI's contact sheet tiles. FFmpeg alone, so that the CLI links it
// without the server's media code.
#ifndef STYLIZER_SERVER_MEDIA_YUV_MATRIX_H_
#define STYLIZER_SERVER_MEDIA_YUV_MATRIX_H_

extern "C" {
#include <libavutil/frame.h>
#include <libavutil/pixfmt.h>
}

struct SwsContext;

namespace stylizer {
namespace media {

// The matrix for pixels of width x height tagged `tagged`, both ways
// (decoded frames -> RGB, RGB -> the encoder's YUV), and so the matrix an
// output is tagged with: the tag itself when swscale has that matrix
// (BT.601 as BT.470BG or SMPTE 170M, BT.709, FCC, SMPTE 240M, BT.2020;
// BT.2020 constant luminance as the non-constant one, the only one swscale
// has), else what players assume for an untagged picture of that size,
// BT.709 when width >= 1280 or height > 576, else BT.601 (SMPTE 170M). That
// covers unspecified, and RGB, YCgCo and the other matrices a 4:2:0 output
// cannot be made with.
AVColorSpace YuvMatrix(AVColorSpace tagged, int width, int height);

// swscale's SWS_CS_* name for a matrix YuvMatrix returns (for
// sws_getCoefficients).
int SwsColorspace(AVColorSpace matrix);

// Sets `ctx`, made to convert pixels of `source` (the plain format of
// `frame`, or the RGB planes they were made into) to RGB, to read `frame`'s
// pixels as every conversion here reads them: YUV with YuvMatrix's matrix
// for its tag and size, anything else with swscale's default table (it takes
// RGB through a YUV of its own, and any other table shifted RGB colours: an
// HD frame's 255,0,30 came out 255,26,28 when scaled), and the range
// IsFullRange gives.
void SetReadingColorspace(SwsContext* ctx, AVPixelFormat source,
                          const AVFrame& frame);

}  // namespace media
}  // namespace stylizer

#endif  // STYLIZER_SERVER_MEDIA_YUV_MATRIX_H_
