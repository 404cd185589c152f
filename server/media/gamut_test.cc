// The gamut matrices against published ones, and white kept white.
#include "server/media/gamut.h"

#include <array>

#include "gtest/gtest.h"

extern "C" {
#include <libavutil/pixdesc.h>
}

namespace stylizer {
namespace media {
namespace {

void ExpectNear(const std::array<double, 9>& got,
                const std::array<double, 9>& want, double tolerance) {
  for (int i = 0; i < 9; ++i) EXPECT_NEAR(got[i], want[i], tolerance) << i;
}

TEST(GamutTest, Bt709IsLeftAlone) {
  ExpectNear(GamutToBt709(AVCOL_PRI_BT709), {1, 0, 0, 0, 1, 0, 0, 0, 1}, 1e-9);
}

// BT.2087's matrix (BT.2020 to BT.709), which the server had written out,
// and what an HDR stream that leaves its primaries unsaid gets.
TEST(GamutTest, Bt2020AndUnsaidAreBt2087s) {
  const std::array<double, 9> bt2087{1.6605,  -0.5876, -0.0728, -0.1246, 1.1329,
                                     -0.0083, -0.0182, -0.1006, 1.1187};
  ExpectNear(GamutToBt709(AVCOL_PRI_BT2020), bt2087, 1e-4);
  ExpectNear(GamutToBt709(AVCOL_PRI_UNSPECIFIED), bt2087, 1e-4);
}

// Display P3 (SMPTE 432, D65), as HDR masters can be tagged: it was taken
// as BT.2020, and came out over-saturated.
TEST(GamutTest, DisplayP3) {
  ExpectNear(GamutToBt709(AVCOL_PRI_SMPTE432),
             {1.2249, -0.2249, 0, -0.0421, 1.0421, 0, -0.0196, -0.0786, 1.0983},
             1e-3);
}

// Every primaries' white (after adaptation to D65 for DCI-P3, BT.470M, film
// and SMPTE 428) is BT.709's white: each row sums to 1.
TEST(GamutTest, WhiteStaysWhite) {
  for (const AVColorPrimaries p :
       {AVCOL_PRI_BT470M, AVCOL_PRI_BT470BG, AVCOL_PRI_SMPTE170M,
        AVCOL_PRI_SMPTE240M, AVCOL_PRI_FILM, AVCOL_PRI_BT2020,
        AVCOL_PRI_SMPTE428, AVCOL_PRI_SMPTE431, AVCOL_PRI_SMPTE432,
        AVCOL_PRI_EBU3213}) {
    const std::array<double, 9> m = GamutToBt709(p);
    for (int row = 0; row < 3; ++row) {
      EXPECT_NEAR(m[3 * row] + m[3 * row + 1] + m[3 * row + 2], 1, 1e-6)
          << av_color_primaries_name(p) << " row " << row;
    }
  }
}

}  // namespace
}  // namespace media
}  // namespace stylizer
