// Gamut matrices from chromaticities; see gamut.h.
#include "server/media/gamut.h"

namespace stylizer {
namespace media {
namespace {

using Matrix = std::array<double, 9>;

struct Xy {
  double x, y;
};

struct Primaries {
  Xy r, g, b, white;
};

constexpr Xy kD65{0.3127, 0.3290};
constexpr Xy kIlluminantC{0.310, 0.316};
constexpr Xy kDci{0.314, 0.351};
constexpr Xy kIlluminantE{1.0 / 3, 1.0 / 3};

// H.273 (and FFmpeg's AVColorPrimaries) chromaticities.
Primaries PrimariesOf(AVColorPrimaries primaries) {
  switch (primaries) {
    case AVCOL_PRI_BT709:
      return {{0.640, 0.330}, {0.300, 0.600}, {0.150, 0.060}, kD65};
    case AVCOL_PRI_BT470M:
      return {{0.670, 0.330}, {0.210, 0.710}, {0.140, 0.080}, kIlluminantC};
    case AVCOL_PRI_BT470BG:
      return {{0.640, 0.330}, {0.290, 0.600}, {0.150, 0.060}, kD65};
    case AVCOL_PRI_SMPTE170M:
    case AVCOL_PRI_SMPTE240M:
      return {{0.630, 0.340}, {0.310, 0.595}, {0.155, 0.070}, kD65};
    case AVCOL_PRI_FILM:
      return {{0.681, 0.319}, {0.243, 0.692}, {0.145, 0.049}, kIlluminantC};
    case AVCOL_PRI_SMPTE428:
      return {{0.735, 0.265}, {0.274, 0.718}, {0.167, 0.009}, kIlluminantE};
    case AVCOL_PRI_SMPTE431:
      return {{0.680, 0.320}, {0.265, 0.690}, {0.150, 0.060}, kDci};
    case AVCOL_PRI_SMPTE432:
      return {{0.680, 0.320}, {0.265, 0.690}, {0.150, 0.060}, kD65};
    case AVCOL_PRI_EBU3213:
      return {{0.630, 0.340}, {0.295, 0.605}, {0.155, 0.077}, kD65};
    default:  // BT.2020, and what an HDR stream leaves unsaid
      return {{0.708, 0.292}, {0.170, 0.797}, {0.131, 0.046}, kD65};
  }
}

Matrix Multiply(const Matrix& a, const Matrix& b) {
  Matrix m{};
  for (int i = 0; i < 3; ++i) {
    for (int j = 0; j < 3; ++j) {
      for (int k = 0; k < 3; ++k) m[3 * i + j] += a[3 * i + k] * b[3 * k + j];
    }
  }
  return m;
}

Matrix Inverse(const Matrix& m) {
  const double a = m[0], b = m[1], c = m[2], d = m[3], e = m[4], f = m[5],
               g = m[6], h = m[7], i = m[8];
  const double det =
      a * (e * i - f * h) - b * (d * i - f * g) + c * (d * h - e * g);
  return {(e * i - f * h) / det, (c * h - b * i) / det, (b * f - c * e) / det,
          (f * g - d * i) / det, (a * i - c * g) / det, (c * d - a * f) / det,
          (d * h - e * g) / det, (b * g - a * h) / det, (a * e - b * d) / det};
}

// XYZ of a chromaticity at luminance 1.
std::array<double, 3> Xyz(Xy c) {
  return {c.x / c.y, 1, (1 - c.x - c.y) / c.y};
}

// Linear RGB -> XYZ: the primaries' XYZ, scaled so that RGB 1, 1, 1 is the
// white.
Matrix RgbToXyz(const Primaries& p) {
  const auto r = Xyz(p.r), g = Xyz(p.g), b = Xyz(p.b), w = Xyz(p.white);
  const Matrix columns{r[0], g[0], b[0], r[1], g[1], b[1], r[2], g[2], b[2]};
  const Matrix inv = Inverse(columns);
  double s[3];
  for (int i = 0; i < 3; ++i) {
    s[i] = inv[3 * i] * w[0] + inv[3 * i + 1] * w[1] + inv[3 * i + 2] * w[2];
  }
  Matrix m = columns;
  for (int i = 0; i < 3; ++i) {
    for (int j = 0; j < 3; ++j) m[3 * i + j] *= s[j];
  }
  return m;
}

// XYZ under `from` to XYZ under D65 (Bradford).
Matrix AdaptToD65(Xy from) {
  const Matrix bradford{0.8951, 0.2664, -0.1614, -0.7502, 1.7135,
                        0.0367, 0.0389, -0.0685, 1.0296};
  const auto cone = [&](Xy white) {
    const auto w = Xyz(white);
    std::array<double, 3> c{};
    for (int i = 0; i < 3; ++i) {
      c[i] = bradford[3 * i] * w[0] + bradford[3 * i + 1] * w[1] +
             bradford[3 * i + 2] * w[2];
    }
    return c;
  };
  const auto src = cone(from), dst = cone(kD65);
  const Matrix scale{dst[0] / src[0], 0, 0, 0, dst[1] / src[1], 0, 0, 0,
                     dst[2] / src[2]};
  return Multiply(Inverse(bradford), Multiply(scale, bradford));
}

}  // namespace

std::array<double, 9> GamutToBt709(AVColorPrimaries primaries) {
  const Primaries p = PrimariesOf(primaries);
  Matrix to_xyz = RgbToXyz(p);
  if (p.white.x != kD65.x || p.white.y != kD65.y) {
    to_xyz = Multiply(AdaptToD65(p.white), to_xyz);
  }
  return Multiply(Inverse(RgbToXyz(PrimariesOf(AVCOL_PRI_BT709))), to_xyz);
}

}  // namespace media
}  // namespace stylizer
