// Colour gamut conversion: linear RGB of a stream's primaries to BT.709's,
// for HDR frames tone-mapped to SDR BT.709 (hdr_to_sdr.h).
#ifndef STYLIZER_SERVER_MEDIA_GAMUT_H_
#define STYLIZER_SERVER_MEDIA_GAMUT_H_

#include <array>

extern "C" {
#include <libavutil/pixfmt.h>
}

namespace stylizer {
namespace media {

// The 3x3 matrix (row-major) from linear RGB of `primaries` to linear RGB of
// BT.709, made from the standards' chromaticities (H.273's table), through
// CIE XYZ, with Bradford adaptation to D65 for primaries of another white
// (DCI-P3's, BT.470M's and film's illuminant C, SMPTE 428's E). BT.2020 for
// unspecified, reserved or unknown primaries: what HDR video uses.
std::array<double, 9> GamutToBt709(AVColorPrimaries primaries);

}  // namespace media
}  // namespace stylizer

#endif  // STYLIZER_SERVER_MEDIA_GAMUT_H_
