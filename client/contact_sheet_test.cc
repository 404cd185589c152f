// Tests of the contact sheet on movies made with the ffmpeg CLI.
#include "client/contact_sheet.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "client/output_files.h"
#include "client/tiny_font.h"
#include "server/media/testing/test_movies.h"

extern "C" {
#include <libavformat/avformat.h>
}

namespace stylizer::client {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

class ContactSheetTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new fs::path(fs::temp_directory_path() /
                        absl::StrCat("contact_sheet_test.", getpid()));
    fs::create_directories(*dir_);
    // Two 2-second 96x64 movies: red and blue, with a moving box.
    for (const char* color : {"red", "blue"}) {
      const absl::Status made = media::testing::MakeMovie(
          absl::StrCat("-f lavfi -i \"color=c=", color,
                       ":s=96x64:r=10:d=2,"
                       "drawbox=x=t*20:y=10:w=16:h=16:c=white:t=fill\" "
                       "-c:v libx264 -pix_fmt yuv420p"),
          (*dir_ / color).string() + ".mp4");
      ASSERT_TRUE(made.ok()) << made;
    }
  }
  static void TearDownTestSuite() {
    fs::remove_all(*dir_);
    delete dir_;
  }
  static std::string Path(const char* name) { return (*dir_ / name).string(); }
  static fs::path* dir_;
};
fs::path* ContactSheetTest::dir_ = nullptr;

// ffmpeg input arguments for a picture red on its left half and blue on its
// right, each half `w` x `h`, at `rate` frames per second for a second.
std::string RedBlueHalves(int w, int h, int rate) {
  const std::string half = absl::StrCat("s=", w, "x", h, ":r=", rate, ":d=1");
  return absl::StrCat("-f lavfi -i \"color=c=red:", half,
                      "[l];color=c=blue:", half, "[r];[l][r]hstack\"");
}

TEST_F(ContactSheetTest, GrabsTheMiddleFrame) {
  auto img = GrabFrame(Path("red.mp4"), 0.5, 48, 32);
  ASSERT_TRUE(img.ok()) << img.status();
  EXPECT_EQ(img->width, 48);
  EXPECT_EQ(img->rgb.size(), 48u * 32 * 3);
  // A red pixel far from the box.
  const uint8_t* p = &img->rgb[(30 * 48 + 2) * 3];
  EXPECT_GT(p[0], 200);
  EXPECT_LT(p[2], 60);
}

// A portrait movie: stored 96x64 (red on the left, blue on the right) with
// a display rotation that players apply. ffmpeg's `rotate=90` tag turns it
// a quarter counter-clockwise: ffmpeg's own player shows it 64x96 with the
// blue half on top, and so must the sheet. Its tiles used to lie on their
// side.
TEST_F(ContactSheetTest, TilesAreTurnedAsPlayersShowThem) {
  const std::string stored = Path("halves.mp4");
  const std::string turned = Path("portrait.mp4");
  absl::Status made = media::testing::MakeMovie(
      absl::StrCat(RedBlueHalves(48, 64, 10), " -c:v libx264 -pix_fmt yuv420p"),
      stored);
  ASSERT_TRUE(made.ok()) << made;
  made = media::testing::MakeMovie(
      absl::StrCat("-i '", stored, "' -c copy -metadata:s:v:0 rotate=90"),
      turned);
  ASSERT_TRUE(made.ok()) << made;
  auto img = GrabFrame(turned, 0.5, 32, 48);
  ASSERT_TRUE(img.ok()) << img.status();
  ASSERT_EQ(img->width, 32);
  ASSERT_EQ(img->height, 48);
  auto at = [&](int x, int y) { return &img->rgb[(y * 32 + x) * 3]; };
  EXPECT_GT(at(16, 4)[2], 200);  // blue on top
  EXPECT_LT(at(16, 4)[0], 60);
  EXPECT_GT(at(16, 44)[0], 200);  // red below
  EXPECT_LT(at(16, 44)[2], 60);
  // The sheet's tiles take the turned movie's shape: taller than wide.
  const std::string out = Path("portrait_sheet.png");
  ContactSheetOptions o;
  o.tile_height = 48;
  ASSERT_TRUE(WriteContactSheet({{turned, "input"}}, out, o).ok());
  auto sheet = GrabFrame(out, 0, 1, 1);
  ASSERT_TRUE(sheet.ok()) << sheet.status();
  // One tile of 32x48 (aspect 64:96) with a 6-pixel gap around it.
  AVFormatContext* f = nullptr;
  ASSERT_EQ(avformat_open_input(&f, out.c_str(), nullptr, nullptr), 0);
  ASSERT_GE(avformat_find_stream_info(f, nullptr), 0);
  EXPECT_EQ(f->streams[0]->codecpar->width, 6 + 32 + 6);
  avformat_close_input(&f);
}

// A movie whose display matrix is a pure mirror (some front cameras'):
// stored red left, blue right, white along the top; players show it
// mirrored, blue left. FFmpeg reads that matrix's angle as 180, and the tile
// was turned upside down (the white along the bottom).
TEST_F(ContactSheetTest, AMirroredMoviesTileIsMirrored) {
  const std::string stored = Path("white_top.mp4");
  absl::Status made = media::testing::MakeMovie(
      absl::StrCat(RedBlueHalves(48, 64, 10),
                   " -vf drawbox=x=0:y=0:w=96:h=16:c=white:t=fill"
                   " -c:v libx264 -pix_fmt yuv420p"),
      stored);
  ASSERT_TRUE(made.ok()) << made;
  auto bytes = media::testing::ReadFile(stored);
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  const int32_t mirror[9] = {-65536, 0, 0, 0, 65536, 0, 0, 0, 1 << 30};
  const std::string mirrored = Path("mirrored.mp4");
  ASSERT_TRUE(media::testing::WriteFile(
                  mirrored, media::testing::WithDisplayMatrix(*bytes, mirror))
                  .ok());
  auto img = GrabFrame(mirrored, 0.5, 48, 32);
  ASSERT_TRUE(img.ok()) << img.status();
  ASSERT_EQ(img->width, 48);
  auto at = [&](int x, int y) { return &img->rgb[(y * 48 + x) * 3]; };
  EXPECT_GT(at(24, 2)[1], 200);  // white on top
  EXPECT_GT(at(8, 24)[2], 200);  // blue on the left
  EXPECT_LT(at(8, 24)[0], 60);
  EXPECT_GT(at(40, 24)[0], 200);  // red on the right
  EXPECT_LT(at(40, 24)[2], 60);
}

// An HDR movie's tile is tone-mapped to SDR as the server does it, so that
// it matches the stylized tiles: an HLG grey at half signal is not shown as
// the mid-grey its code would be in SDR. Its colours agree with FFmpeg's own
// zscale/tonemap chain.
TEST_F(ContactSheetTest, AnHdrMoviesTileIsToneMapped) {
  const std::string hlg = Path("hlg.mkv");
  const std::string reference = Path("hlg_reference.png");
  absl::Status made = media::testing::MakeMovie(
      "-f lavfi -i \"color=c=0xC08040:s=64x48:r=10:d=1\" -vf "
      "zscale=tin=bt709:min=bt709:pin=bt709:t=arib-std-b67:m=bt2020nc:"
      "p=bt2020:npl=1000,format=yuv420p10le -c:v libx264 -color_primaries "
      "bt2020 -color_trc arib-std-b67 -colorspace bt2020nc",
      hlg);
  ASSERT_TRUE(made.ok()) << made;
  made = media::testing::MakeMovie(
      absl::StrCat("-i '", hlg,
                   "' -frames:v 1 -vf zscale=t=linear:npl=100,"
                   "format=gbrpf32le,zscale=p=bt709,"
                   "tonemap=tonemap=mobius:desat=0,"
                   "zscale=t=bt709:m=bt709:r=pc,format=rgb24"),
      reference);
  ASSERT_TRUE(made.ok()) << made;
  auto tile = GrabFrame(hlg, 0.5, 32, 24);
  auto want = GrabFrame(reference, 0, 32, 24);
  ASSERT_TRUE(tile.ok()) << tile.status();
  ASSERT_TRUE(want.ok()) << want.status();
  const uint8_t* got = &tile->rgb[(12 * 32 + 16) * 3];
  const uint8_t* ref = &want->rgb[(12 * 32 + 16) * 3];
  for (int c = 0; c < 3; ++c) {
    EXPECT_NEAR(got[c], ref[c], 4) << "component " << c;
  }
}

// An HD movie's tiles are read with its BT.709 matrix, as the server reads
// the frames (media::YuvMatrix), not swscale's default BT.601, which shifts
// this steel blue by 5 levels (red and blue).
TEST_F(ContactSheetTest, AnHdMoviesTileKeepsItsColours) {
  const std::string hd = Path("steel_blue_hd.mp4");
  const absl::Status made = media::testing::MakeMovie(
      "-f lavfi -i \"color=c=0x3070C0:s=1280x720:r=10:d=0.5,format=rgb24\" "
      "-vf scale=out_color_matrix=bt709:out_range=tv,format=yuv420p "
      "-colorspace bt709 -c:v libx264 -qp 0",
      hd);
  ASSERT_TRUE(made.ok()) << made;
  auto tile = GrabFrame(hd, 0.5, 64, 36);
  ASSERT_TRUE(tile.ok()) << tile.status();
  const uint8_t* got = &tile->rgb[(18 * 64 + 32) * 3];
  const int want[3] = {0x30, 0x70, 0xC0};
  for (int c = 0; c < 3; ++c) {
    EXPECT_NEAR(got[c], want[c], 2) << "component " << c;
  }
}

// An HD movie coded as RGB (libx264rgb): its tile keeps its colours. (The
// YUV matrix of an HD size, given to swscale for RGB input, shifted them.)
TEST_F(ContactSheetTest, AnRgbHdMoviesTileKeepsItsColours) {
  const std::string movie = Path("rgb_hd.mkv");
  const absl::Status made = media::testing::MakeMovie(
      "-f lavfi -i \"color=c=0xFF001E:s=1280x720:r=10:d=0.5,format=rgb24\" "
      "-c:v libx264rgb -qp 0",
      movie);
  ASSERT_TRUE(made.ok()) << made;
  auto tile = GrabFrame(movie, 0.2, 64, 36);
  ASSERT_TRUE(tile.ok()) << tile.status();
  const uint8_t* got = &tile->rgb[(18 * 64 + 32) * 3];
  const int want[3] = {0xFF, 0x00, 0x1E};
  for (int c = 0; c < 3; ++c) EXPECT_NEAR(got[c], want[c], 2) << c;
}

// A movie with transparency (QuickTime Animation, ARGB): half of it blue at
// alpha 0. The tile shows it over white, as the server composites it; it
// showed the blue.
TEST_F(ContactSheetTest, ATransparentMoviesTileIsOverWhite) {
  const std::string movie = Path("transparent.mov");
  const absl::Status made = media::testing::MakeMovie(
      "-f lavfi -i \"color=c=blue:s=32x24:r=10:d=0.5,format=rgba,"
      "geq=r='p(X,Y)':a='if(lt(X,16),0,255)'\" -c:v qtrle -pix_fmt argb",
      movie);
  ASSERT_TRUE(made.ok()) << made;
  auto tile = GrabFrame(movie, 0, 32, 24);
  ASSERT_TRUE(tile.ok()) << tile.status();
  const uint8_t* clear = &tile->rgb[(12 * 32 + 4) * 3];
  const uint8_t* opaque = &tile->rgb[(12 * 32 + 28) * 3];
  for (int c = 0; c < 3; ++c) EXPECT_NEAR(clear[c], 255, 2) << c;
  EXPECT_LT(opaque[0], 40);
  EXPECT_GT(opaque[2], 200);
}

// A portrait photo sent as a movie: stored 64x48 with EXIF orientation 6.
// The server's outputs carry that turn (from the decoded frame), so the
// sheet turns the input's tile too and makes the tiles portrait; they used
// to be landscape, the outputs squeezed into them.
TEST_F(ContactSheetTest, APhotosTileIsTurnedByItsExifOrientation) {
  const std::string stored = Path("stored.jpg");
  const absl::Status made = media::testing::MakeMovie(
      absl::StrCat(RedBlueHalves(32, 48, 1), " -frames:v 1 -update 1"), stored);
  ASSERT_TRUE(made.ok()) << made;
  auto jpeg = media::testing::ReadFile(stored);
  ASSERT_TRUE(jpeg.ok()) << jpeg.status();
  const std::string photo = Path("portrait.jpg");
  ASSERT_TRUE(media::testing::WriteFile(
                  photo, media::testing::WithExifOrientation(*jpeg, 6))
                  .ok());
  // Orientation 6: turned 90 clockwise, the left (red) half on top.
  auto img = GrabFrame(photo, 0.5, 24, 32);
  ASSERT_TRUE(img.ok()) << img.status();
  auto at = [&](int x, int y) { return &img->rgb[(y * 24 + x) * 3]; };
  EXPECT_GT(at(12, 4)[0], 200);  // red on top
  EXPECT_LT(at(12, 4)[2], 60);
  EXPECT_GT(at(12, 28)[2], 200);  // blue below
  const std::string out = Path("photo_sheet.png");
  ContactSheetOptions o;
  o.tile_height = 48;
  ASSERT_TRUE(WriteContactSheet({{photo, "input"}}, out, o).ok());
  AVFormatContext* f = nullptr;
  ASSERT_EQ(avformat_open_input(&f, out.c_str(), nullptr, nullptr), 0);
  ASSERT_GE(avformat_find_stream_info(f, nullptr), 0);
  EXPECT_EQ(f->streams[0]->codecpar->width, 6 + 36 + 6);  // 48 x 3/4
  avformat_close_input(&f);
}

// A caption past ASCII (a style named "café") has one '?' per character,
// and is measured and cut by characters; it was one '?' per byte.
TEST(TinyFontTest, CharactersPastAsciiAreOneQuestionMarkEach) {
  EXPECT_EQ(TextChars("caf\xc3\xa9"), 4);
  EXPECT_EQ(TextWidth("caf\xc3\xa9", 1), 24);
  EXPECT_EQ(FirstChars("\xe6\xb0\xb4\xe5\xa2\xa8", 1), "\xe6\xb0\xb4");
  EXPECT_EQ(FirstChars("abc", 5), "abc");
  const uint8_t ink[3] = {255, 255, 255};
  auto draw = [&](absl::string_view text) {
    std::vector<uint8_t> buffer(24 * 8 * 3, 0);
    DrawText(text, 0, 0, 1, ink, buffer.data(), 24, 8);
    return buffer;
  };
  EXPECT_EQ(draw("E\xc3\xa9"), draw("E?"));
  EXPECT_EQ(draw("\xe6\xb0\xb4x"), draw("?x"));
}

TEST_F(ContactSheetTest, PngRoundTrips) {
  RgbImage img;
  img.width = 3;
  img.height = 2;
  img.rgb.assign(18, 7);
  auto png = EncodePng(img);
  ASSERT_TRUE(png.ok()) << png.status();
  EXPECT_EQ(png->substr(1, 3), "PNG");
}

TEST_F(ContactSheetTest, WritesAGrid) {
  const std::string out = Path("sheet.png");
  ContactSheetOptions o;
  o.tile_height = 32;
  absl::Status s = WriteContactSheet({{Path("red.mp4"), "input"},
                                      {Path("blue.mp4"), "klimt"},
                                      {Path("red.mp4"), "mosaic"}},
                                     out, o);
  ASSERT_TRUE(s.ok()) << s;
  auto sheet =
      GrabFrame(out, 0, 2 * 6 + 2 * (48 + 6) - 6 + 6, 6 + 2 * (32 + 7 + 12));
  ASSERT_TRUE(sheet.ok()) << sheet.status();  // FFmpeg reads it back
  auto data = ReadFile(out);
  ASSERT_TRUE(data.ok());
  EXPECT_EQ(data->substr(1, 3), "PNG");
}

// The width and height of the PNG at `path` (0x0 if it cannot be read).
std::pair<int, int> PngSize(const std::string& path) {
  AVFormatContext* raw = nullptr;
  if (avformat_open_input(&raw, path.c_str(), nullptr, nullptr) < 0) {
    return {0, 0};
  }
  std::pair<int, int> size{0, 0};
  if (avformat_find_stream_info(raw, nullptr) >= 0 && raw->nb_streams > 0) {
    size = {raw->streams[0]->codecpar->width,
            raw->streams[0]->codecpar->height};
  }
  avformat_close_input(&raw);
  return size;
}

// Tiles of very tall or very wide movies stay within 1:2 and 4:1 and fit
// the frame inside, with bars: a 64x4000 movie had 2-pixel tiles and no
// captions, a 4000x64 one a sheet tens of thousands of pixels wide.
TEST_F(ContactSheetTest, TilesOfExtremeShapesStayWithinBounds) {
  for (const auto& [size, tile_width] :
       {std::pair<const char*, int>{"64x2000", 90}, {"2000x64", 720}}) {
    const std::string movie = Path(size) + ".mp4";
    ASSERT_TRUE(media::testing::MakeMovie(
                    absl::StrCat("-f lavfi -i testsrc2=s=", size,
                                 ":r=5:d=1 -c:v libx264 -pix_fmt yuv420p"),
                    movie)
                    .ok());
    const std::string out = Path(size) + ".png";
    ASSERT_TRUE(
        WriteContactSheet({{movie, "input"}, {movie, "klimt"}}, out).ok());
    // Two columns of tiles 180 high, 6 px apart; one line of captions.
    EXPECT_EQ(PngSize(out), std::make_pair(6 + 2 * (tile_width + 6),
                                           6 + 180 + 7 * 2 + 12))
        << size;
  }
}

// Pixels that are not square, known only to the container (Matroska with
// FFV1): the tile is as wide as players show the frame. It was square.
TEST_F(ContactSheetTest, TheContainersPixelAspectShapesTheTile) {
  const std::string movie = Path("wide_pixels.mkv");
  ASSERT_TRUE(media::testing::MakeMovie(
                  "-f lavfi -i testsrc2=s=128x128:r=5:d=1 -vf setsar=2 "
                  "-c:v ffv1",
                  movie)
                  .ok());
  const std::string out = Path("wide_pixels.png");
  ASSERT_TRUE(WriteContactSheet({{movie, "input"}}, out).ok());
  EXPECT_EQ(PngSize(out).first, 6 + 360 + 6);
}

// Captions too long for a tile wrap to up to three lines, the last one
// marked when cut; two blends of a small movie read alike when cut to one.
TEST_F(ContactSheetTest, LongCaptionsWrap) {
  EXPECT_THAT(WrapText("klimt0.333+mosaic0.333+waves0.333", 15, 3),
              ::testing::ElementsAre("klimt0.333+mosa", "ic0.333+waves0.",
                                     "333"));
  EXPECT_THAT(WrapText("klimt0.333+mosaic0.333+waves0.333", 15, 2),
              ::testing::ElementsAre("klimt0.333+mosa", "ic0.333+waves.."));
  EXPECT_THAT(WrapText("input", 15, 3), ::testing::ElementsAre("input"));
  EXPECT_TRUE(WrapText("input", 0, 3).empty());
  const std::string out = Path("blends.png");
  ASSERT_TRUE(WriteContactSheet({{Path("red.mp4"), "input"},
                                 {Path("red.mp4"), "klimt0.333+mosaic0.333+"
                                                   "waves0.333"}},
                                out)
                  .ok());
  // Tiles 270 wide (96x64), 22 characters a line: two lines.
  EXPECT_EQ(PngSize(out), std::make_pair(6 + 2 * (270 + 6),
                                         6 + 180 + 2 * 18 - 4 + 12));
}

TEST_F(ContactSheetTest, Errors) {
  ASSERT_TRUE(AtomicFile::WriteWhole(Path("junk.mp4"), "not a movie").ok());
  EXPECT_THAT(GrabFrame(Path("junk.mp4"), 0.5, 16, 16).status().message(),
              HasSubstr("junk.mp4"));
  EXPECT_FALSE(GrabFrame(Path("missing.mp4"), 0.5, 16, 16).ok());
  EXPECT_FALSE(WriteContactSheet({}, Path("x.png")).ok());
  EXPECT_FALSE(
      WriteContactSheet({{Path("junk.mp4"), "x"}}, Path("y.png")).ok());
  EXPECT_FALSE(fs::exists(Path("y.png")));
}

}  // namespace
}  // namespace stylizer::client
