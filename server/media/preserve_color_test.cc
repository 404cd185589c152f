// Tests of the BT.601 luminance transfer behind preserve_color.
#include "server/media/preserve_color.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdlib>
#include <random>
#include <vector>

#include "gtest/gtest.h"

namespace stylizer {
namespace media {
namespace {

// Full-range BT.601 (JPEG) components of one RGB pixel, in floating point.
struct Ycc {
  double y, cb, cr;
};
Ycc ToYcc(const uint8_t* p) {
  const double r = p[0], g = p[1], b = p[2];
  return {0.299 * r + 0.587 * g + 0.114 * b,
          128 - 0.168736 * r - 0.331264 * g + 0.5 * b,
          128 + 0.5 * r - 0.418688 * g - 0.081312 * b};
}

// The method in double precision: the styled luminance plus the input's
// chroma offsets, scaled by the largest k <= 1 that stays inside 0..255.
std::array<double, 3> Reference(const uint8_t* in, const uint8_t* styled) {
  const double y_in = ToYcc(in).y;
  const double y = ToYcc(styled).y;
  double k = 1;
  for (int c = 0; c < 3; ++c) {
    const double d = in[c] - y_in;
    if (d > 0) k = std::min(k, (255 - y) / d);
    if (d < 0) k = std::min(k, y / -d);
  }
  return {y + k * (in[0] - y_in), y + k * (in[1] - y_in),
          y + k * (in[2] - y_in)};
}

RgbFrame RandomFrame(int width, int height, int lo, int hi, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> value(lo, hi);
  RgbFrame frame;
  frame.width = width;
  frame.height = height;
  frame.pixels.resize(size_t{3} * width * height);
  for (uint8_t& v : frame.pixels) v = static_cast<uint8_t>(value(rng));
  return frame;
}

RgbFrame Uniform(int width, int height, uint8_t r, uint8_t g, uint8_t b) {
  RgbFrame frame;
  frame.width = width;
  frame.height = height;
  for (int i = 0; i < width * height; ++i) {
    frame.pixels.insert(frame.pixels.end(), {r, g, b});
  }
  return frame;
}

TEST(PreserveColorTest, GreyOutputTakesTheInputsChroma) {
  const RgbFrame input = RandomFrame(61, 37, 0, 255, 1);
  for (int grey : {20, 90, 128, 200, 240}) {
    RgbFrame styled = Uniform(61, 37, grey, grey, grey);
    ASSERT_TRUE(PreserveColor(input, &styled).ok());
    int inside = 0;
    for (size_t i = 0; i < input.pixels.size(); i += 3) {
      const uint8_t* in = &input.pixels[i];
      const Ycc a = ToYcc(in);
      const Ycc b = ToYcc(&styled.pixels[i]);
      SCOPED_TRACE(::testing::Message()
                   << "grey " << grey << " pixel " << i / 3);
      // The luminance is the styled one everywhere.
      ASSERT_NEAR(b.y, grey, 1.0);
      bool fits = true;
      for (int c = 0; c < 3; ++c) {
        const double ideal = in[c] + grey - a.y;
        fits = fits && ideal >= 0 && ideal <= 255;
      }
      if (fits) {  // the input's colour exists at this luminance: exact
        ++inside;
        ASSERT_NEAR(b.cb, a.cb, 1.5);
        ASSERT_NEAR(b.cr, a.cr, 1.5);
      } else {  // same hue, less saturated
        const double in_c = std::hypot(a.cb - 128, a.cr - 128);
        const double out_c = std::hypot(b.cb - 128, b.cr - 128);
        ASSERT_LT(out_c, in_c + 1.0);
        const double k = out_c / in_c;
        ASSERT_NEAR(b.cb - 128, k * (a.cb - 128), 1.5);
        ASSERT_NEAR(b.cr - 128, k * (a.cr - 128), 1.5);
      }
    }
    // Both kinds of pixel occur.
    EXPECT_GT(inside, 100) << "grey " << grey;
    EXPECT_LT(inside, 61 * 37) << "grey " << grey;
  }
}

TEST(PreserveColorTest, ModeratePicturesStayInsideTheCube) {
  // A picture and a stylized version with moderate colours: every colour
  // fits, so every pixel has the styled luminance and the input's chroma.
  const RgbFrame input = RandomFrame(64, 48, 70, 185, 2);
  RgbFrame styled = RandomFrame(64, 48, 100, 160, 3);
  const RgbFrame before = styled;
  ASSERT_TRUE(PreserveColor(input, &styled).ok());
  for (size_t i = 0; i < input.pixels.size(); i += 3) {
    const Ycc in = ToYcc(&input.pixels[i]);
    const Ycc was = ToYcc(&before.pixels[i]);
    const Ycc out = ToYcc(&styled.pixels[i]);
    ASSERT_NEAR(out.y, was.y, 1.0) << "pixel " << i / 3;
    ASSERT_NEAR(out.cb, in.cb, 1.5) << "pixel " << i / 3;
    ASSERT_NEAR(out.cr, in.cr, 1.5) << "pixel " << i / 3;
  }
}

TEST(PreserveColorTest, IdentityOutputIsUnchanged) {
  const RgbFrame input = RandomFrame(33, 17, 0, 255, 4);
  RgbFrame styled = input;
  ASSERT_TRUE(PreserveColor(input, &styled).ok());
  EXPECT_EQ(styled.pixels, input.pixels);
}

TEST(PreserveColorTest, ExtremesStayInsideTheCubeWithTheStyledLuminance) {
  struct Case {
    uint8_t in[3], styled[3], want[3];
  };
  const Case cases[] = {
      // Saturated red has no colour of its hue at Y = 255 or 0 but white and
      // black.
      {{255, 0, 0}, {255, 255, 255}, {255, 255, 255}},
      {{255, 0, 0}, {0, 0, 0}, {0, 0, 0}},
      // At Y = 128 red keeps its hue with 71 % of its chroma: R at 255.
      {{255, 0, 0}, {128, 128, 128}, {255, 74, 74}},
      // Blue at Y = 128: 56 % of its chroma, B at 255.
      {{0, 0, 255}, {128, 128, 128}, {112, 112, 255}},
      // Black and white have no chroma: the output is the styled grey.
      {{0, 0, 0}, {255, 255, 255}, {255, 255, 255}},
      {{255, 255, 255}, {0, 0, 0}, {0, 0, 0}},
      {{255, 255, 255}, {10, 200, 30}, {124, 124, 124}},
  };
  for (const Case& c : cases) {
    uint8_t out[3] = {c.styled[0], c.styled[1], c.styled[2]};
    PreserveColor(c.in, out, 1);
    EXPECT_EQ(out[0], c.want[0]);
    EXPECT_EQ(out[1], c.want[1]);
    EXPECT_EQ(out[2], c.want[2]);
  }
}

TEST(PreserveColorTest, EveryLengthMatchesThePerPixelFormula) {
  // The vectorised body and its scalar tail agree with the method computed
  // in double precision, for every length up to a few vectors.
  for (size_t n = 0; n <= 80; ++n) {
    RgbFrame input = RandomFrame(static_cast<int>(n), 1, 0, 255, 10 + n);
    RgbFrame styled = RandomFrame(static_cast<int>(n), 1, 0, 255, 200 + n);
    std::vector<uint8_t> out = styled.pixels;
    PreserveColor(input.pixels.data(), out.data(), n);
    for (size_t i = 0; i < 3 * n; i += 3) {
      const std::array<double, 3> want =
          Reference(&input.pixels[i], &styled.pixels[i]);
      for (int c = 0; c < 3; ++c) {
        ASSERT_NEAR(out[i + c], want[c], 0.51)
            << "length " << n << " pixel " << i / 3 << " channel " << c;
      }
    }
  }
}

TEST(PreserveColorTest, RefusesFramesOfDifferentSizes) {
  const RgbFrame input = RandomFrame(8, 4, 0, 255, 5);
  RgbFrame styled = RandomFrame(4, 8, 0, 255, 6);
  const RgbFrame before = styled;
  absl::Status s = PreserveColor(input, &styled);
  EXPECT_EQ(s.code(), absl::StatusCode::kInternal) << s;
  EXPECT_EQ(styled.pixels, before.pixels);

  RgbFrame truncated = input;
  truncated.pixels.pop_back();
  s = PreserveColor(truncated, &styled);
  EXPECT_EQ(s.code(), absl::StatusCode::kInternal) << s;
}

}  // namespace
}  // namespace media
}  // namespace stylizer
