// Tests of the CLI commands against the in-process fake server (which echoes
// the uploaded movie as every output): video with a contact sheet, image
// output naming, styles, health, bench, and the write-nothing failures.
#include "client/commands.h"

#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <ext/stdio_filebuf.h>
#include <filesystem>
#include <future>
#include <sstream>

#include "absl/flags/flag.h"
#include "absl/flags/reflection.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "client/cmd_image_internal.h"
#include "client/contact_sheet.h"
#include "client/output_files.h"
#include "client/rpc_errors.h"
#include "client/testing/fake_stylizer_service.h"

namespace stylizer::client {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::Not;

class CommandsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new fs::path(fs::temp_directory_path() /
                        absl::StrCat("commands_test.", getpid()));
    fs::create_directories(*dir_);
    const std::string ffmpeg = "ffmpeg -nostdin -loglevel error -y ";
    const std::string cmd = absl::StrCat(
        ffmpeg, "-f lavfi -i testsrc2=s=64x48:r=5:d=1 -c:v libx264 ",
        "-pix_fmt yuv420p ", Path("clip.mp4"), " && ", ffmpeg,
        "-f lavfi -i testsrc2=s=32x24 -frames:v 1 ", Path("photo.png"), " && ",
        ffmpeg, "-i ", Path("clip.mp4"), " -c copy ", Path("clip.mkv"));
    ASSERT_EQ(std::system(cmd.c_str()), 0);
  }
  static void TearDownTestSuite() {
    fs::remove_all(*dir_);
    delete dir_;
  }
  void SetUp() override {
    absl::SetFlag(&FLAGS_server, server_.address());
    absl::SetFlag(&FLAGS_progress, "plain");
    absl::SetFlag(&FLAGS_retries, 0);
  }
  // Runs a command; `stdin_data` is what it reads from standard input.
  absl::Status Run(const std::string& command, std::vector<std::string> args,
                   const std::string& stdin_data = "",
                   bool out_is_tty = false, bool in_is_tty = false) {
    out_.str("");
    err_.str("");
    std::istringstream in(stdin_data);
    CommandIo io{&out_, &err_, false, &in, out_is_tty, in_is_tty};
    return RunCommand(Invocation{command, std::move(args)}, io);
  }
  static std::string Path(const std::string& name) {
    return (*dir_ / name).string();
  }

  absl::FlagSaver saver_;
  testing::FakeServer server_;
  std::ostringstream out_, err_;
  static fs::path* dir_;
};
fs::path* CommandsTest::dir_ = nullptr;

TEST_F(CommandsTest, VideoWritesEveryStyleAndAContactSheet) {
  const std::string out = Path("video_out");
  absl::SetFlag(&FLAGS_out, out);
  absl::SetFlag(&FLAGS_styles, "klimt,mosaic:1+outcry:3");
  absl::SetFlag(&FLAGS_contact_sheet, out + "/sheet.png");
  absl::Status s = Run("video", {Path("clip.mp4")});
  ASSERT_TRUE(s.ok()) << s << err_.str();
  EXPECT_EQ(out_.str(),
            absl::StrCat(out, "/clip.klimt.mp4\n", out,
                         "/clip.mosaic0.25+outcry0.75.mp4\n", out,
                         "/sheet.png\n"));
  EXPECT_THAT(err_.str(), HasSubstr("job job-1: 64x48"));
  EXPECT_THAT(err_.str(), HasSubstr("progress:"));
  EXPECT_EQ(fs::file_size(out + "/clip.klimt.mp4"),
            fs::file_size(Path("clip.mp4")));
  // The sheet has 3 tiles (input + 2 styles): 2 columns x 2 rows.
  auto sheet = GrabFrame(out + "/sheet.png", 0, 8, 8);
  EXPECT_TRUE(sheet.ok()) << sheet.status();
  const auto& styles = server_.service().last_styles();
  ASSERT_EQ(styles.size(), 2u);
  EXPECT_EQ(styles[0].index(), 0u);
  EXPECT_FLOAT_EQ(styles[1].blend().weights(1), 0.75f);
}

// Each file holds its own style's output, whatever order the outputs come
// in: the fake tags output i and sends the outputs last first (with every
// output the same bytes, a file under another style's name went unseen).
TEST_F(CommandsTest, EachFileHoldsItsOwnStylesOutput) {
  server_.service().tag_outputs = true;
  const auto ends_with_tag = [](const std::string& path, int output_index) {
    const absl::StatusOr<std::string> bytes = ReadFile(path);
    return bytes.ok() &&
           absl::EndsWith(*bytes,
                          testing::FakeStylizerService::TagOf(output_index));
  };
  const std::string out = Path("own_style");
  absl::SetFlag(&FLAGS_out, out);
  absl::SetFlag(&FLAGS_styles, "outcry,klimt,mosaic");
  ASSERT_TRUE(Run("image", {Path("photo.png")}).ok()) << err_.str();
  EXPECT_TRUE(ends_with_tag(out + "/photo.outcry.png", 0));
  EXPECT_TRUE(ends_with_tag(out + "/photo.klimt.png", 1));
  EXPECT_TRUE(ends_with_tag(out + "/photo.mosaic.png", 2));
  ASSERT_TRUE(Run("video", {Path("clip.mp4")}).ok()) << err_.str();
  EXPECT_TRUE(ends_with_tag(out + "/clip.outcry.mp4", 0));
  EXPECT_TRUE(ends_with_tag(out + "/clip.klimt.mp4", 1));
  EXPECT_TRUE(ends_with_tag(out + "/clip.mosaic.mp4", 2));
}

TEST_F(CommandsTest, VideoMkvNamesAndFlags) {
  const std::string out = Path("mkv_out");
  absl::SetFlag(&FLAGS_out, out);
  absl::SetFlag(&FLAGS_container, "MKV");
  absl::SetFlag(&FLAGS_styles, "3");
  absl::SetFlag(&FLAGS_progress, "none");
  // The fake sends the input back: a Matroska movie for Matroska.
  ASSERT_TRUE(Run("video", {Path("clip.mkv")}).ok()) << err_.str();
  EXPECT_TRUE(fs::exists(out + "/clip.picasso.mkv"));
  EXPECT_EQ(err_.str(), "");
}

// A movie served as bytes that are not one (a broken server's, or one that
// is not a stylizer server), or not in the container asked for: DATA_LOSS
// (exit 1), no file, and nothing on standard output. They were saved as
// clip.klimt.mp4, and the command exited 0.
TEST_F(CommandsTest, VideoServedAsBytesThatAreNotAMovieWritesNothing) {
  server_.service().serve_not_a_movie = true;
  const std::string out = Path("not_a_movie");
  absl::SetFlag(&FLAGS_out, out);
  absl::SetFlag(&FLAGS_styles, "klimt");
  absl::Status s = Run("video", {Path("clip.mp4")});
  EXPECT_TRUE(absl::IsDataLoss(s)) << s;
  EXPECT_EQ(ExitCodeFor(s), kExitFailure);
  EXPECT_EQ(std::string(s.message()),
            "the server returned output 0 (klimt) as bytes that are not an MP4 "
            "movie (they begin 3c 21 44 4f 43 54 59 50); nothing was written "
            "for this input");
  EXPECT_EQ(out_.str(), "");
  EXPECT_FALSE(fs::exists(out));

  absl::SetFlag(&FLAGS_out, "-");
  s = Run("video", {Path("clip.mp4")});
  EXPECT_TRUE(absl::IsDataLoss(s)) << s;
  EXPECT_EQ(out_.str(), "");

  // An MP4 movie where Matroska was asked for.
  server_.service().serve_not_a_movie = false;
  absl::SetFlag(&FLAGS_container, "mkv");
  s = Run("video", {Path("clip.mp4")});
  EXPECT_TRUE(absl::IsDataLoss(s)) << s;
  EXPECT_THAT(std::string(s.message()), HasSubstr("not a Matroska movie"));
  EXPECT_EQ(out_.str(), "");
  absl::SetFlag(&FLAGS_out, out);
  s = Run("video", {Path("clip.mp4")});
  EXPECT_TRUE(absl::IsDataLoss(s)) << s;
  EXPECT_FALSE(fs::exists(out));
}

// The line before each retry's wait is printed without a progress display
// too: a silent wait of up to 30 s looked like a hang.
TEST_F(CommandsTest, VideoRetriesAreSaidWithoutProgress) {
  absl::SetFlag(&FLAGS_out, Path("retry_out"));
  absl::SetFlag(&FLAGS_styles, "klimt");
  absl::SetFlag(&FLAGS_progress, "none");
  absl::SetFlag(&FLAGS_retries, 3);
  server_.service().fail_busy = 1;
  const absl::Status s = Run("video", {Path("clip.mp4")});
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_THAT(err_.str(), HasSubstr("retry 1 of 3 in "));
  EXPECT_THAT(err_.str(), HasSubstr("busy"));
  // So are those of the first call, for the model's styles (a server still
  // loading): the command waited silently.
  err_.str("");
  server_.service().fail_unavailable = 1;
  ASSERT_TRUE(Run("video", {Path("clip.mp4")}).ok());
  EXPECT_THAT(err_.str(), HasSubstr("retry 1 of 3 in "));
  EXPECT_THAT(err_.str(), HasSubstr("warming up"));
}

// A movie whose damaged packets the server skipped: the command says so,
// and names the movie when it was given several.
TEST_F(CommandsTest, VideoSaysWhichInputHadDamagedPackets) {
  absl::SetFlag(&FLAGS_out, Path("damaged_out"));
  absl::SetFlag(&FLAGS_styles, "klimt");
  absl::SetFlag(&FLAGS_progress, "none");
  server_.service().skipped_packets = 2;
  ASSERT_TRUE(Run("video", {Path("clip.mp4")}).ok()) << err_.str();
  EXPECT_THAT(err_.str(),
              HasSubstr("stylizer: warning: 2 damaged video packets were "
                        "skipped, as ffmpeg skips them: the outputs are "
                        "missing their frames\n"));
  fs::copy_file(Path("clip.mp4"), Path("damaged2.mp4"),
                fs::copy_options::overwrite_existing);
  ASSERT_TRUE(Run("video", {Path("clip.mp4"), Path("damaged2.mp4")}).ok())
      << err_.str();
  for (const char* name : {"clip.mp4", "damaged2.mp4"}) {
    EXPECT_THAT(err_.str(), HasSubstr("stylizer: warning: " + Path(name) +
                                      ": 2 damaged video packets were skipped"))
        << name;
  }
  // Through the progress display too.
  absl::SetFlag(&FLAGS_progress, "plain");
  ASSERT_TRUE(Run("video", {Path("clip.mp4"), Path("damaged2.mp4")}).ok())
      << err_.str();
  EXPECT_THAT(
      err_.str(),
      HasSubstr("stylizer: warning: " + Path("damaged2.mp4") + ": 2 damaged"));
}

TEST_F(CommandsTest, FailedVideoWritesNothing) {
  server_.service().fail_after_chunks = 1;
  const std::string out = Path("failed_out");
  absl::SetFlag(&FLAGS_out, out);
  absl::SetFlag(&FLAGS_contact_sheet, out + "/sheet.png");
  absl::Status s = Run("video", {Path("clip.mp4")});
  EXPECT_EQ(ExitCodeFor(s), kExitFailure);
  EXPECT_THAT(s.message(), HasSubstr("encoder exploded"));
  EXPECT_FALSE(fs::exists(out));
  EXPECT_EQ(out_.str(), "");

  // Every directory the command made goes, not only the last (new/deep
  // stayed); one that was there stays.
  absl::SetFlag(&FLAGS_contact_sheet, "");
  fs::create_directories(Path("kept"));
  absl::SetFlag(&FLAGS_out, Path("kept/new/deep/dir/"));
  s = Run("video", {Path("clip.mp4")});
  EXPECT_EQ(ExitCodeFor(s), kExitFailure);
  EXPECT_FALSE(fs::exists(Path("kept/new"))) << s;
  EXPECT_TRUE(fs::exists(Path("kept")));
}

TEST_F(CommandsTest, VideoOfANonMovie) {
  ASSERT_TRUE(AtomicFile::WriteWhole(Path("notes.txt"), "hello").ok());
  const std::string out = Path("nonmovie_out");
  absl::SetFlag(&FLAGS_out, out);
  absl::Status s = Run("video", {Path("notes.txt")});
  EXPECT_EQ(ExitCodeFor(s), kExitFailure);
  EXPECT_THAT(s.message(), HasSubstr("the server rejected the input"));
  EXPECT_FALSE(fs::exists(out));
}

// A still PNG or JPEG given to `video` makes one-frame movies, with a note
// that names `stylizer image` (a slip for it, more often than not).
TEST_F(CommandsTest, VideoOfAStillPicture) {
  const std::string out = Path("still_out");
  absl::SetFlag(&FLAGS_out, out);
  absl::SetFlag(&FLAGS_styles, "klimt");
  // The note comes before the upload (which this fake server, reading only
  // movies, refuses; the real one makes the movie: tests/cli/video_test.py).
  absl::Status s = Run("video", {Path("photo.png")});
  EXPECT_THAT(err_.str(),
              HasSubstr("stylizer: note: " + Path("photo.png") +
                        " is a still picture (PNG): each output is a "
                        "one-frame movie (stylizer image makes pictures)"));
  // A movie gets no note.
  err_.str("");
  s = Run("video", {Path("clip.mp4")});
  EXPECT_TRUE(s.ok()) << s;
  EXPECT_THAT(err_.str(), ::testing::Not(HasSubstr("still picture")));
}

TEST_F(CommandsTest, VideoUsageErrors) {
  for (auto [flag, value] : std::vector<std::pair<const char*, const char*>>{
           {"crf", "52"}, {"max_side", "8"}, {"container", "avi"},
           {"contact_sheet", "x.jpg"}, {"progress", "loud"}}) {
    absl::FlagSaver saver;
    std::string error;
    ASSERT_TRUE(absl::FindCommandLineFlag(flag)->ParseFrom(value, &error));
    absl::Status s = Run("video", {Path("clip.mp4")});
    EXPECT_EQ(ExitCodeFor(s), kExitUsage) << flag << " " << s;
  }
  EXPECT_EQ(ExitCodeFor(Run("video", {})), kExitUsage);
  absl::SetFlag(&FLAGS_out, Path("clip.mp4"));  // a file, not a directory
  EXPECT_EQ(ExitCodeFor(Run("video", {Path("clip.mp4")})), kExitUsage);
  // A movie's name that does not exist yet: it made a directory called so.
  for (const char* name : {"styled.mp4", "styled.MKV"}) {
    absl::SetFlag(&FLAGS_out, Path(name));
    const absl::Status s = Run("video", {Path("clip.mp4")});
    EXPECT_EQ(ExitCodeFor(s), kExitUsage) << name << ": " << s;
    EXPECT_THAT(s.message(), HasSubstr("video writes into a directory"));
    EXPECT_FALSE(fs::exists(Path(name)));
  }
  absl::SetFlag(&FLAGS_out, "");
  absl::SetFlag(&FLAGS_styles, "waves");
  absl::Status s = Run("video", {Path("clip.mp4")});
  EXPECT_EQ(ExitCodeFor(s), kExitUsage);
  EXPECT_THAT(s.message(), HasSubstr("--styles: unknown style 'waves'"));
}

TEST_F(CommandsTest, ImageNaming) {
  const std::string out = Path("img_out");
  absl::SetFlag(&FLAGS_out, out + "/");
  ASSERT_TRUE(Run("image", {Path("photo.png")}).ok());
  for (const char* name : {"klimt", "mosaic", "outcry", "picasso"}) {
    EXPECT_TRUE(fs::exists(absl::StrCat(out, "/photo.", name, ".png"))) << name;
  }
  absl::SetFlag(&FLAGS_out, out + "/one.png");
  absl::SetFlag(&FLAGS_styles, "outcry");
  ASSERT_TRUE(Run("image", {Path("photo.png")}).ok());
  EXPECT_EQ(out_.str(), out + "/one.png\n");
  absl::SetFlag(&FLAGS_out, out + "/two.png");
  absl::SetFlag(&FLAGS_styles, "0,1");
  ASSERT_TRUE(Run("image", {Path("photo.png")}).ok());
  EXPECT_TRUE(fs::exists(out + "/two.klimt.png"));
  EXPECT_TRUE(fs::exists(out + "/two.mosaic.png"));
  absl::SetFlag(&FLAGS_out, out + "/three.gif");
  EXPECT_EQ(ExitCodeFor(Run("image", {Path("photo.png")})), kExitUsage);
  // --format: JPEG files in a directory; a file's extension must agree.
  absl::SetFlag(&FLAGS_out, out + "/jpegs");
  absl::SetFlag(&FLAGS_format, "JPG");  // any case, as an extension
  ASSERT_TRUE(Run("image", {Path("photo.png")}).ok());
  EXPECT_EQ(out_.str(), out + "/jpegs/photo.klimt.jpg\n" + out +
                            "/jpegs/photo.mosaic.jpg\n");
  absl::SetFlag(&FLAGS_out, out + "/four.png");
  absl::Status s = Run("image", {Path("photo.png")});
  EXPECT_EQ(ExitCodeFor(s), kExitUsage);
  EXPECT_THAT(s.message(), HasSubstr("disagree"));
  absl::SetFlag(&FLAGS_format, "gif");
  absl::SetFlag(&FLAGS_out, out + "/jpegs");
  EXPECT_EQ(ExitCodeFor(Run("image", {Path("photo.png")})), kExitUsage);
}

// Standard input's outputs may be another input too (a second run finds
// stdin.klimt.png among its inputs): "-" and one file were not checked.
TEST(DistinctOutputPathsTest, StandardInputsOutputThatIsAnInput) {
  const std::string file =
      (fs::temp_directory_path() / "stdin.klimt.png").string();
  const auto paths = DistinctOutputPaths(
      {"-", file},
      {{file},
       {(fs::temp_directory_path() / "stdin.klimt.klimt.png").string()}});
  EXPECT_TRUE(IsUsageError(paths.status())) << paths.status();
  EXPECT_THAT(paths.status().message(), HasSubstr("which is the input"));
}

// An output that is its own input is refused too: `image p.png --out=p.png`
// replaced the photo with its stylized version, exit 0.
TEST(DistinctOutputPathsTest, AnOutputThatIsItsOwnInput) {
  const std::string file = (fs::temp_directory_path() / "own.png").string();
  for (const std::string& out :
       {file, (fs::temp_directory_path() / "." / "own.png").string()}) {
    const auto paths = DistinctOutputPaths({file}, {{out}});
    EXPECT_TRUE(IsUsageError(paths.status())) << out << ": " << paths.status();
    EXPECT_THAT(paths.status().message(), HasSubstr("that input itself"));
  }
  EXPECT_TRUE(DistinctOutputPaths({file}, {{file + ".klimt.png"}}).ok());
}

// Mistakes in --format and --out are usage errors before any call (they
// were found after connecting: exit 1, "cannot reach", with no server), and
// an --out the file system cannot look up is one too (it aborted the
// command).
TEST_F(CommandsTest, ImageOutputMistakesNeedNoServer) {
  absl::SetFlag(&FLAGS_server, "127.0.0.1:1");
  for (const auto& [format, out] :
       std::vector<std::pair<std::string, std::string>>{
           {"gif", Path("no_server")},
           {"", Path("no_server/b.gif")},
           {"jpg", Path("no_server/b.png")}}) {
    absl::SetFlag(&FLAGS_format, format);
    absl::SetFlag(&FLAGS_out, out);
    const absl::Status s = Run("image", {Path("photo.png")});
    EXPECT_EQ(ExitCodeFor(s), kExitUsage) << format << " " << out << ": " << s;
  }
  absl::SetFlag(&FLAGS_format, "");
  absl::SetFlag(&FLAGS_out, Path(std::string(300, 'x') + ".png"));
  const absl::Status s = Run("image", {Path("photo.png"), Path("photo.png")});
  EXPECT_EQ(ExitCodeFor(s), kExitUsage) << s;
  EXPECT_THAT(s.message(), HasSubstr("several inputs need a directory"));
}

// "-" reads standard input and, as --out, writes standard output: one
// image or movie in one style, byte for byte what the server sent.
TEST_F(CommandsTest, StandardInputAndOutput) {
  const std::string photo = *ReadFile(Path("photo.png"));
  const std::string clip = *ReadFile(Path("clip.mp4"));
  absl::SetFlag(&FLAGS_styles, "outcry");
  absl::SetFlag(&FLAGS_out, "-");
  absl::Status s = Run("image", {"-"}, photo);
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(out_.str(), photo);  // the fake server sends the input back
  s = Run("video", {"-"}, clip);
  ASSERT_TRUE(s.ok()) << s << err_.str();
  EXPECT_EQ(out_.str(), clip);
  s = Run("video", {Path("clip.mp4")});
  ASSERT_TRUE(s.ok()) << s << err_.str();
  EXPECT_EQ(out_.str(), clip);

  // Into a directory, standard input is named "stdin".
  const std::string out = Path("stdio_out");
  absl::SetFlag(&FLAGS_out, out);
  absl::SetFlag(&FLAGS_styles, "klimt,outcry");
  ASSERT_TRUE(Run("image", {"-", Path("photo.png")}, photo).ok());
  EXPECT_TRUE(fs::exists(out + "/stdin.outcry.png"));
  EXPECT_TRUE(fs::exists(out + "/photo.klimt.png"));
  s = Run("video", {"-"}, clip);
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(out_.str(), absl::StrCat(out, "/stdin.klimt.mp4\n", out,
                                     "/stdin.outcry.mp4\n"));
  EXPECT_EQ(fs::file_size(out + "/stdin.klimt.mp4"), clip.size());
}

TEST_F(CommandsTest, StandardInputAndOutputUsageErrors) {
  const std::string photo = *ReadFile(Path("photo.png"));
  const std::string clip = *ReadFile(Path("clip.mp4"));
  auto usage = [&](const std::string& command, std::vector<std::string> args,
                   const std::string& stdin_data, const std::string& says,
                   bool out_is_tty = false, bool in_is_tty = false) {
    absl::Status s =
        Run(command, std::move(args), stdin_data, out_is_tty, in_is_tty);
    EXPECT_EQ(ExitCodeFor(s), kExitUsage) << s;
    EXPECT_THAT(s.message(), HasSubstr(says));
    EXPECT_EQ(out_.str(), "");
  };
  absl::SetFlag(&FLAGS_out, "-");
  absl::SetFlag(&FLAGS_styles, "klimt,outcry");
  usage("image", {"-"}, photo, "--styles names 2 styles; pick one");
  usage("video", {"-"}, clip, "--styles names 2 styles; pick one");
  absl::SetFlag(&FLAGS_styles, "klimt");
  usage("image", {"-"}, photo, "standard output, which is a terminal", true);
  usage("video", {"-"}, clip, "standard output, which is a terminal", true);
  usage("image", {"-", Path("photo.png")}, photo,
        "several inputs need a directory");
  absl::SetFlag(&FLAGS_split, "3");
  usage("video", {Path("clip.mp4")}, "", "--split writes files");
  absl::SetFlag(&FLAGS_out, Path("stdio_err"));
  usage("video", {"-"}, clip, "give a file, not standard input");
  absl::SetFlag(&FLAGS_split, "");
  absl::SetFlag(&FLAGS_contact_sheet, Path("stdio_err") + "/sheet.png");
  usage("video", {"-"}, clip, "--contact_sheet reads the input");
  absl::SetFlag(&FLAGS_contact_sheet, "");
  usage("image", {"-", "-"}, photo, "can be read only once");
  usage("image", {"-"}, photo, "standard input, which is a terminal", false,
        true);
  usage("video", {"-"}, clip, "standard input, which is a terminal", false,
        true);
  // frames takes no file: it is not told to name one.
  absl::SetFlag(&FLAGS_size, "8x6");
  usage("frames", {}, "",
        "frames reads raw pictures from standard input, which is a "
        "terminal; pipe them in",
        false, true);
  absl::SetFlag(&FLAGS_size, "");
  EXPECT_FALSE(fs::exists(Path("stdio_err")));

  // Not an image: named as standard input.
  absl::Status s = Run("image", {"-"}, "");
  EXPECT_THAT(s.message(), HasSubstr("standard input is empty"));
}

TEST_F(CommandsTest, PreserveColorReachesImageAndVideoRequests) {
  absl::SetFlag(&FLAGS_out, Path("color_out") + "/");
  absl::SetFlag(&FLAGS_styles, "klimt");
  ASSERT_TRUE(Run("image", {Path("photo.png")}).ok());
  EXPECT_FALSE(server_.service().last_preserve_color());
  absl::SetFlag(&FLAGS_preserve_color, true);
  ASSERT_TRUE(Run("image", {Path("photo.png")}).ok());
  EXPECT_TRUE(server_.service().last_preserve_color());
  absl::SetFlag(&FLAGS_preserve_color, false);
  ASSERT_TRUE(Run("video", {Path("clip.mp4")}).ok());
  EXPECT_FALSE(server_.service().last_preserve_color());
  absl::SetFlag(&FLAGS_preserve_color, true);
  ASSERT_TRUE(Run("video", {Path("clip.mp4")}).ok());
  EXPECT_TRUE(server_.service().last_preserve_color());
}

// Bytes served as an image that are not the format asked for: DATA_LOSS,
// exit code 1.
TEST(CheckServedImageTest, BytesThatAreNotTheFormatAskedForAreDataLoss) {
  const std::string png = "\x89PNG\r\n\x1a\n and the rest";
  const std::string jpeg = "\xff\xd8\xff and the rest";
  EXPECT_TRUE(CheckServedImage(png, stylizer::v1::IMAGE_FORMAT_PNG, 0).ok());
  EXPECT_TRUE(CheckServedImage(jpeg, stylizer::v1::IMAGE_FORMAT_JPEG, 1).ok());
  absl::Status s = CheckServedImage(jpeg, stylizer::v1::IMAGE_FORMAT_PNG, 2);
  EXPECT_TRUE(absl::IsDataLoss(s)) << s;
  EXPECT_EQ(ExitCodeFor(s), kExitFailure);
  EXPECT_EQ(s.message(),
            absl::StrCat("the server returned output 2 as ", jpeg.size(),
                         " bytes that are not a PNG image; nothing was "
                         "written for this input"));
  s = CheckServedImage("not a png at all", stylizer::v1::IMAGE_FORMAT_JPEG, 0);
  EXPECT_TRUE(absl::IsDataLoss(s)) << s;
  EXPECT_THAT(s.message(), HasSubstr("16 bytes that are not a JPEG image"));
}

TEST_F(CommandsTest, ImageFailuresWriteNothing) {
  const std::string out = Path("img_fail");
  absl::SetFlag(&FLAGS_out, out);
  ASSERT_TRUE(AtomicFile::WriteWhole(Path("notes.txt"), "hello").ok());
  absl::Status s = Run("image", {Path("notes.txt")});
  EXPECT_THAT(s.message(), HasSubstr("is not a PNG or JPEG image"));
  // A known format is named, with what to do.
  ASSERT_TRUE(
      AtomicFile::WriteWhole(Path("photo.heic"), std::string("\0\0\0\x18"
                                                             "ftypheic",
                                                             12) +
                                                     std::string(100, '\0'))
          .ok());
  s = Run("image", {Path("photo.heic")});
  EXPECT_THAT(s.message(), HasSubstr("photo.heic is a HEIF image; the server "
                                     "takes PNG or JPEG: convert it first"));
  s = Run("image", {Path("missing.png")});
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  absl::SetFlag(&FLAGS_server, "127.0.0.1:1");
  s = Run("image", {Path("photo.png")});
  EXPECT_THAT(s.message(), HasSubstr("cannot reach stylizer-server"));
  EXPECT_FALSE(fs::exists(out));
}

// Several inputs: each one's images, named by its stem; an input's own
// failure is named and the others are still written.
TEST_F(CommandsTest, SeveralImagesEachWrittenAndFailuresNamed) {
  const std::string out = Path("many_out");
  absl::SetFlag(&FLAGS_out, out);
  absl::SetFlag(&FLAGS_styles, "klimt,outcry");
  fs::copy_file(Path("photo.png"), Path("second.png"),
                fs::copy_options::overwrite_existing);
  ASSERT_TRUE(AtomicFile::WriteWhole(Path("notes2.txt"), "hello").ok());
  absl::Status s = Run("image", {Path("photo.png"), Path("second.png")});
  ASSERT_TRUE(s.ok()) << s << err_.str();
  for (const char* name : {"photo.klimt.png", "photo.outcry.png",
                           "second.klimt.png", "second.outcry.png"}) {
    EXPECT_TRUE(fs::exists(out + "/" + name)) << name;
    EXPECT_THAT(out_.str(), HasSubstr(out + "/" + name + "\n"));
  }

  fs::remove_all(out);
  s = Run("image", {Path("photo.png"), Path("notes2.txt"), Path("missing.png"),
                    Path("second.png")});
  EXPECT_EQ(ExitCodeFor(s), kExitFailure);
  EXPECT_THAT(s.message(), HasSubstr("2 of 4 images failed"));
  // Each named once.
  EXPECT_THAT(err_.str(), HasSubstr("stylizer: " + Path("notes2.txt") +
                                    " is not a PNG or JPEG image"));
  EXPECT_THAT(err_.str(),
              HasSubstr("stylizer: cannot open " + Path("missing.png") + ": "));
  // A name that only appears inside the reason is still given (a file "e"
  // went unnamed).
  const std::string cwd = fs::current_path().string();
  fs::current_path(*dir_);
  ASSERT_TRUE(AtomicFile::WriteWhole(Path("e"), "not a movie").ok());
  s = Run("video", {"e", "clip.mp4"});
  fs::current_path(cwd);
  EXPECT_THAT(err_.str(), HasSubstr("stylizer: e: the server rejected"));
  EXPECT_TRUE(fs::exists(out + "/photo.klimt.png"));
  EXPECT_TRUE(fs::exists(out + "/second.outcry.png"));
  EXPECT_FALSE(fs::exists(out + "/notes2.klimt.png"));
}

TEST_F(CommandsTest, SeveralImagesAreRefusedWhatCannotWork) {
  absl::SetFlag(&FLAGS_styles, "klimt");
  fs::create_directories(Path("elsewhere"));
  fs::copy_file(Path("photo.png"), Path("elsewhere/photo.png"),
                fs::copy_options::overwrite_existing);
  absl::SetFlag(&FLAGS_out, Path("clash_out"));
  // Two inputs that would write the same file: refused before any call.
  const int calls = server_.service().calls.load();
  absl::Status s =
      Run("image", {Path("photo.png"), Path("elsewhere/photo.png")});
  EXPECT_EQ(ExitCodeFor(s), kExitUsage);
  EXPECT_THAT(s.message(), HasSubstr("would both write"));
  EXPECT_EQ(server_.service().calls.load(), calls + 1);  // GetModelInfo only
  EXPECT_FALSE(fs::exists(Path("clash_out")));
  // A file name for --out.
  absl::SetFlag(&FLAGS_out, Path("one.png"));
  s = Run("image", {Path("photo.png"), Path("photo.png")});
  EXPECT_EQ(ExitCodeFor(s), kExitUsage);
  EXPECT_THAT(s.message(), HasSubstr("several inputs need a directory"));
  absl::SetFlag(&FLAGS_out, Path("clash_out"));
  absl::SetFlag(&FLAGS_concurrency, -1);
  EXPECT_EQ(ExitCodeFor(Run("image", {Path("photo.png"), Path("second.png")})),
            kExitUsage);
  absl::SetFlag(&FLAGS_concurrency, 0);
  // No server: one error for the command, not one per input.
  absl::SetFlag(&FLAGS_out, Path("nowhere_out"));
  absl::SetFlag(&FLAGS_server, "127.0.0.1:1");
  s = Run("image", {Path("photo.png"), Path("elsewhere/photo.png")});
  EXPECT_THAT(s.message(), HasSubstr("cannot reach stylizer-server"));
  EXPECT_EQ(err_.str().find("photo.png:"), std::string::npos) << err_.str();
}

// Several movies, one after another: each one's outputs, named by its
// stem; a movie's own failure is named and the others still go on.
TEST_F(CommandsTest, SeveralMoviesEachWrittenAndFailuresNamed) {
  const std::string out = Path("movies_out");
  absl::SetFlag(&FLAGS_out, out);
  absl::SetFlag(&FLAGS_styles, "klimt,outcry");
  fs::copy_file(Path("clip.mp4"), Path("second.mp4"),
                fs::copy_options::overwrite_existing);
  ASSERT_TRUE(AtomicFile::WriteWhole(Path("notes3.txt"), "hello").ok());
  absl::Status s = Run("video", {Path("clip.mp4"), Path("notes3.txt"),
                                 Path("missing.mp4"), Path("second.mp4")});
  EXPECT_EQ(ExitCodeFor(s), kExitFailure);
  EXPECT_THAT(s.message(), HasSubstr("2 of 4 movies failed"));
  EXPECT_THAT(err_.str(), HasSubstr("movie 2 of 4: " + Path("notes3.txt")));
  EXPECT_THAT(err_.str(), HasSubstr("stylizer: " + Path("notes3.txt") +
                                    ": the server rejected the input"));
  EXPECT_THAT(err_.str(),
              HasSubstr("stylizer: cannot open " + Path("missing.mp4") + ": "));
  for (const char* name : {"clip.klimt.mp4", "clip.outcry.mp4",
                           "second.klimt.mp4", "second.outcry.mp4"}) {
    EXPECT_EQ(fs::file_size(out + "/" + name), fs::file_size(Path("clip.mp4")))
        << name;
    EXPECT_THAT(out_.str(), HasSubstr(out + "/" + name + "\n"));
  }
  EXPECT_FALSE(fs::exists(out + "/notes3.klimt.mp4"));

  // Refused before any upload: two inputs writing one file, a contact sheet
  // or standard output for several.
  fs::create_directories(Path("other"));
  fs::copy_file(Path("clip.mp4"), Path("other/clip.mp4"),
                fs::copy_options::overwrite_existing);
  absl::SetFlag(&FLAGS_out, Path("clash_movies"));
  s = Run("video", {Path("clip.mp4"), Path("other/clip.mp4")});
  EXPECT_EQ(ExitCodeFor(s), kExitUsage) << s;
  EXPECT_THAT(s.message(), HasSubstr("would both write"));
  absl::SetFlag(&FLAGS_contact_sheet, Path("clash_movies") + "/sheet.png");
  s = Run("video", {Path("clip.mp4"), Path("second.mp4")});
  EXPECT_EQ(ExitCodeFor(s), kExitUsage) << s;
  EXPECT_THAT(s.message(), HasSubstr("--contact_sheet draws one movie"));
  // A directory where the sheet goes: the message names the flag that put
  // it there (it said "give another --out").
  fs::create_directories(Path("sheet_dir.png"));
  absl::SetFlag(&FLAGS_contact_sheet, Path("sheet_dir.png"));
  s = Run("video", {Path("clip.mp4")});
  EXPECT_THAT(s.message(), HasSubstr("sheet_dir.png is a directory, so no "
                                     "output can be written there; move it "
                                     "or give another --contact_sheet"));
  absl::SetFlag(&FLAGS_contact_sheet, "");
  absl::SetFlag(&FLAGS_out, "-");
  s = Run("video", {Path("clip.mp4"), Path("second.mp4")});
  EXPECT_EQ(ExitCodeFor(s), kExitUsage) << s;
  EXPECT_FALSE(fs::exists(Path("clash_movies")));

  // An output that is another input: it would be replaced before it is
  // read, and then stylized twice.
  absl::SetFlag(&FLAGS_out, Path(""));
  absl::SetFlag(&FLAGS_styles, "klimt");
  fs::copy_file(Path("clip.mp4"), Path("clip.klimt.mp4"),
                fs::copy_options::overwrite_existing);
  const uintmax_t before = fs::file_size(Path("clip.klimt.mp4"));
  s = Run("video", {Path("clip.mp4"), Path("./clip.klimt.mp4")});
  EXPECT_EQ(ExitCodeFor(s), kExitUsage) << s;
  EXPECT_THAT(s.message(), HasSubstr("which is the input"));
  EXPECT_EQ(fs::file_size(Path("clip.klimt.mp4")), before);
  absl::SetFlag(&FLAGS_styles, "klimt,outcry");

  // No server: one error for the command, not one per movie.
  absl::SetFlag(&FLAGS_out, Path("nowhere_movies"));
  absl::SetFlag(&FLAGS_server, "127.0.0.1:1");
  s = Run("video", {Path("clip.mp4"), Path("second.mp4")});
  EXPECT_THAT(s.message(), HasSubstr("cannot reach stylizer-server"));
  EXPECT_EQ(err_.str().find("stylizer: "), std::string::npos) << err_.str();
}

// frames: raw RGB24 frames in, the stream's answers out, in order and byte
// for byte (the fake server sends each frame back).
TEST_F(CommandsTest, FramesFromStandardInputToStandardOutput) {
  std::string frames;
  for (int k = 0; k < 7; ++k) {
    for (int i = 0; i < 8 * 6 * 3; ++i) {
      frames.push_back(static_cast<char>(k * 31 + i));
    }
  }
  absl::SetFlag(&FLAGS_size, "8x6");
  absl::SetFlag(&FLAGS_styles, "outcry");
  absl::SetFlag(&FLAGS_concurrency, 2);
  absl::Status s = Run("frames", {}, frames);
  ASSERT_TRUE(s.ok()) << s << err_.str();
  EXPECT_EQ(out_.str(), frames);
  EXPECT_THAT(err_.str(), HasSubstr("frames: 7 of 8x6"));

  // A busy server: frames opens one stream and does not retry it, so the
  // error does not point at --retries.
  server_.service().fail_busy = 1;
  s = Run("frames", {}, frames);
  EXPECT_EQ(ExitCodeFor(s), kExitFailure);
  EXPECT_THAT(s.message(), HasSubstr("is busy"));
  EXPECT_THAT(s.message(), HasSubstr("frames does not retry"));
  EXPECT_THAT(s.message(), Not(HasSubstr("--retries")));

  // A cut last frame: the whole ones are written, the error says what to
  // check.
  s = Run("frames", {}, frames.substr(0, 3 * 144 + 100));
  EXPECT_EQ(ExitCodeFor(s), kExitFailure);
  EXPECT_THAT(s.message(), HasSubstr("ended 100 bytes into a frame of 144"));
  EXPECT_THAT(s.message(), HasSubstr("is --size the size of the frames?"));
  EXPECT_EQ(out_.str(), frames.substr(0, 3 * 144));

  // Usage mistakes, before any frame is sent.
  absl::SetFlag(&FLAGS_styles, "klimt,outcry");
  s = Run("frames", {}, frames);
  EXPECT_EQ(ExitCodeFor(s), kExitUsage);
  EXPECT_THAT(s.message(), HasSubstr("names 2 styles"));
  absl::SetFlag(&FLAGS_styles, "");
  EXPECT_EQ(ExitCodeFor(Run("frames", {}, frames)), kExitUsage);
  absl::SetFlag(&FLAGS_styles, "klimt");
  EXPECT_EQ(ExitCodeFor(Run("frames", {}, frames, /*out_is_tty=*/true)),
            kExitUsage);
  EXPECT_EQ(ExitCodeFor(Run("frames", {}, frames, false, /*in_is_tty=*/true)),
            kExitUsage);
  EXPECT_EQ(ExitCodeFor(Run("frames", {"extra"}, frames)), kExitUsage);
  absl::SetFlag(&FLAGS_size, "8by6");
  EXPECT_EQ(ExitCodeFor(Run("frames", {}, frames)), kExitUsage);
  // No --size: raw frames carry none, and bench's 640x360 was assumed.
  absl::SetFlag(&FLAGS_size, "");
  const absl::Status no_size = Run("frames", {}, frames);
  EXPECT_EQ(ExitCodeFor(no_size), kExitUsage) << no_size;
  EXPECT_THAT(no_size.message(), HasSubstr("frames needs --size=WxH"));
  EXPECT_EQ(out_.str(), "");
}

// A buggy or hostile server: a stream ended OK before every frame was
// answered, or answers to frames never sent. The command exited 0 with
// frames missing, and extra answers drove its window below zero (a hang).
TEST_F(CommandsTest, FramesTrustNoStreamThatLostFrames) {
  std::string frames;
  for (int k = 0; k < 5; ++k) frames += std::string(8 * 6 * 3, 'a' + k);
  absl::SetFlag(&FLAGS_size, "8x6");
  absl::SetFlag(&FLAGS_styles, "klimt");
  absl::SetFlag(&FLAGS_concurrency, 1);
  server_.service().end_frames_ok_after = 2;
  absl::Status s = Run("frames", {}, frames);
  EXPECT_EQ(ExitCodeFor(s), kExitFailure) << s;
  EXPECT_THAT(s.message(), HasSubstr("ended the stream after answering 2"));
  EXPECT_EQ(out_.str(), frames.substr(0, 2 * 144));

  server_.service().end_frames_ok_after = 0;
  server_.service().answers_per_frame = 3;
  auto run =
      std::async(std::launch::async, [&] { return Run("frames", {}, frames); });
  ASSERT_EQ(run.wait_for(std::chrono::seconds(60)), std::future_status::ready)
      << "frames hung on answers to frames never sent";
  s = run.get();
  EXPECT_EQ(ExitCodeFor(s), kExitFailure) << s;
  // "...frame 1, which was not sent", or, where the sender was quicker,
  // "...frame 1 where frame 3 was due".
  EXPECT_THAT(s.message(), HasSubstr("the server answered frame"));
  server_.service().answers_per_frame = 1;
}

// An answer of the frame's bytes as another picture (6x8 for 8x6, say) is
// refused: it was written as if it were the frame.
TEST_F(CommandsTest, FramesRefuseAnAnswerOfAnotherSize) {
  std::string frames;
  for (int k = 0; k < 3; ++k) frames += std::string(8 * 6 * 3, 'a' + k);
  absl::SetFlag(&FLAGS_size, "8x6");
  absl::SetFlag(&FLAGS_styles, "klimt");
  absl::SetFlag(&FLAGS_concurrency, 1);
  server_.service().transpose_frames = true;
  const absl::Status s = Run("frames", {}, frames);
  server_.service().transpose_frames = false;
  EXPECT_EQ(ExitCodeFor(s), kExitFailure) << s;
  EXPECT_EQ(std::string(s.message()),
            "the server's answer to frame 0 is a 6x8 picture where the frame "
            "sent was 8x6");
  EXPECT_EQ(out_.str(), "");
}

// The server ends the stream (a drain, say) while the source sends nothing:
// the command ends with the server's reason at once, not at the source's
// next frame, which may never come.
TEST_F(CommandsTest, FramesEndWhenTheServerDoesWhileTheSourceIsSilent) {
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  const std::string frame(8 * 6 * 3, '\x5a');
  ASSERT_EQ(write(fds[1], frame.data(), frame.size()),
            static_cast<ssize_t>(frame.size()));
  server_.service().end_frames_after = 1;
  absl::SetFlag(&FLAGS_size, "8x6");
  absl::SetFlag(&FLAGS_styles, "klimt");
  // Standard input as the CLI has it: a stream over the pipe, and its
  // descriptor (the stream's buffer closes it).
  __gnu_cxx::stdio_filebuf<char> pipe_buffer(fds[0], std::ios::in);
  std::istream in(&pipe_buffer);
  CommandIo io{&out_, &err_, false, &in, false, false, fds[0]};
  auto run = std::async(std::launch::async, [&] {
    return RunCommand(Invocation{"frames", {}}, io);
  });
  const bool ended =
      run.wait_for(std::chrono::seconds(30)) == std::future_status::ready;
  close(fds[1]);  // lets a command that still waits end, so the test ends
  absl::Status s = run.get();
  EXPECT_TRUE(ended) << "frames kept waiting for the source after the "
                        "server had ended the stream";
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
  EXPECT_THAT(s.message(), HasSubstr("draining"));
  EXPECT_EQ(out_.str(), frame);
}

// Standard input among several images, its pipe silent, while another
// input's failure ends the command: the command ends at once. Its read of
// standard input held it until the pipe closed.
TEST_F(CommandsTest, ImagesEndWhileStandardInputIsSilent) {
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  absl::SetFlag(&FLAGS_out, Path("silent_out"));
  absl::SetFlag(&FLAGS_styles, "klimt");
  server_.service().fail_busy = 1;  // the file's call: busy, no retries
  __gnu_cxx::stdio_filebuf<char> pipe_buffer(fds[0], std::ios::in);
  std::istream in(&pipe_buffer);
  CommandIo io{&out_, &err_, false, &in, false, false, fds[0]};
  auto run = std::async(std::launch::async, [&] {
    return RunCommand(Invocation{"image", {"-", Path("photo.png")}}, io);
  });
  const bool ended =
      run.wait_for(std::chrono::seconds(30)) == std::future_status::ready;
  close(fds[1]);  // lets a command that still waits end, so the test ends
  const absl::Status s = run.get();
  EXPECT_TRUE(ended) << "image kept reading standard input after a failure "
                        "had ended the command";
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted) << s;
}

// Names from a hostile server carried escape sequences to the terminal.
TEST_F(CommandsTest, StylesPrintsNoControlCharactersOfTheServers) {
  const std::vector<std::string> names = server_.service().style_names;
  server_.service().style_names = {"\x1b]0;PWNED\x07", "\x1b[31mred", "ok",
                                   "\xc2\x9b"
                                   "2J"};
  absl::Status s = Run("styles", {});
  server_.service().style_names = names;
  ASSERT_TRUE(s.ok()) << s;
  for (char c : out_.str()) {
    EXPECT_TRUE(c == '\n' || static_cast<unsigned char>(c) >= 0x20) << int(c);
  }
  EXPECT_THAT(out_.str(), HasSubstr("\\x1b[31mred"));
  EXPECT_THAT(out_.str(), Not(HasSubstr("\xc2\x9b")));
}

// An input whose first bytes are no PNG or JPEG is refused then, not read to
// its end first: a movie given by mistake was read whole into memory, a
// device (/dev/zero) until memory ran out, a pipe until it closed.
TEST_F(CommandsTest, ImageRefusesAnInputByItsFirstBytes) {
  const std::string fifo = Path("not_an_image.fifo");
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  absl::SetFlag(&FLAGS_out, Path("fifo_out"));
  absl::SetFlag(&FLAGS_styles, "klimt");
  auto run =
      std::async(std::launch::async, [&] { return Run("image", {fifo}); });
  const int writer = open(fifo.c_str(), O_WRONLY);
  ASSERT_GE(writer, 0);
  ASSERT_EQ(write(writer, "\x1a\x45\xdf\xa3mkv!", 8), 8);  // Matroska's start
  const bool ended =
      run.wait_for(std::chrono::seconds(30)) == std::future_status::ready;
  close(writer);  // lets a command that still reads end, so the test ends
  const absl::Status s = run.get();
  EXPECT_TRUE(ended) << "image read the whole input before checking it";
  EXPECT_EQ(ExitCodeFor(s), kExitFailure) << s;
  EXPECT_THAT(s.message(), HasSubstr("is a movie, not a PNG or JPEG image"));
  EXPECT_THAT(s.message(), HasSubstr("stylizer video"));
  // A movie file, too.
  const absl::Status movie = Run("image", {Path("clip.mp4")});
  EXPECT_THAT(movie.message(), HasSubstr("stylize it with stylizer video"));
}

TEST_F(CommandsTest, StylesAndHealth) {
  ASSERT_TRUE(Run("styles", {}).ok());
  EXPECT_THAT(out_.str(), HasSubstr("model fake on cpu (fp32), 4 styles"));
  EXPECT_THAT(out_.str(), HasSubstr("    2  outcry\n"));
  absl::SetFlag(&FLAGS_json, true);
  absl::Status json = Run("styles", {});
  ASSERT_TRUE(json.ok()) << json;
  EXPECT_THAT(out_.str(), HasSubstr("\"name\":\"fake\""));
  EXPECT_THAT(out_.str(), HasSubstr("{\"index\":2,\"name\":\"outcry\"}"));
  EXPECT_THAT(out_.str(), HasSubstr("\"max_batch_size\":8"));
  EXPECT_THAT(out_.str(), HasSubstr("\"archive_sha256\":\"\""));
  absl::SetFlag(&FLAGS_json, false);
  ASSERT_TRUE(Run("health", {}).ok());
  EXPECT_EQ(out_.str(), "SERVING\n");
  server_.SetServing(false);
  absl::Status s = Run("health", {});
  EXPECT_EQ(ExitCodeFor(s), kExitFailure);
  EXPECT_EQ(out_.str(), "NOT_SERVING\n");
  // An unknown service name said "is not serving" of a serving server.
  server_.SetServing(true);
  absl::SetFlag(&FLAGS_service, "nope");
  s = Run("health", {});
  absl::SetFlag(&FLAGS_service, "");
  EXPECT_EQ(ExitCodeFor(s), kExitFailure);
  EXPECT_EQ(out_.str(), "SERVICE_UNKNOWN\n");
  EXPECT_THAT(s.message(), HasSubstr("has no health service named \"nope\""));
  EXPECT_THAT(s.message(), Not(HasSubstr("not serving")));
  EXPECT_EQ(ExitCodeFor(Run("styles", {"extra"})), kExitUsage);
}

TEST_F(CommandsTest, BenchJson) {
  absl::SetFlag(&FLAGS_json, true);
  absl::SetFlag(&FLAGS_count, 5);
  absl::SetFlag(&FLAGS_size, "16x16");
  for (const char* mode : {"image", "frames"}) {
    absl::SetFlag(&FLAGS_mode, mode);
    absl::Status s = Run("bench", {});
    ASSERT_TRUE(s.ok()) << s;
    EXPECT_THAT(out_.str(), HasSubstr("\"requests\":5,\"errors\":0,\"frames\":5"));
    EXPECT_THAT(out_.str(), HasSubstr(absl::StrCat("\"mode\":\"", mode, "\"")));
  }
  absl::SetFlag(&FLAGS_mode, "video");
  absl::SetFlag(&FLAGS_input, Path("clip.mp4"));
  absl::SetFlag(&FLAGS_count, 2);
  ASSERT_TRUE(Run("bench", {}).ok());
  EXPECT_THAT(out_.str(), HasSubstr("\"requests\":2,\"errors\":0,\"frames\":20"));
  absl::SetFlag(&FLAGS_size, "big");
  EXPECT_EQ(ExitCodeFor(Run("bench", {})), kExitUsage);
}

// A load test reports a busy server's refusals; it does not retry them.
TEST_F(CommandsTest, BenchCountsBusyRefusals) {
  absl::SetFlag(&FLAGS_json, true);
  absl::SetFlag(&FLAGS_count, 5);
  absl::SetFlag(&FLAGS_size, "16x16");
  absl::SetFlag(&FLAGS_mode, "image");
  server_.service().fail_busy = 2;
  const absl::Status s = Run("bench", {});
  EXPECT_EQ(ExitCodeFor(s), kExitFailure);
  // 5 calls: 3 answered, 2 refused, none sent again.
  EXPECT_THAT(out_.str(),
              HasSubstr("\"requests\":3,\"errors\":2,\"frames\":3"));
  EXPECT_THAT(out_.str(), HasSubstr("\"RESOURCE_EXHAUSTED\":2"));
  EXPECT_THAT(out_.str(), HasSubstr("\"concurrency\":1,"));  // a number
  // The refusal's message does not point at --retries: bench never retries
  // a busy server.
  EXPECT_THAT(out_.str(), HasSubstr("is busy"));
  EXPECT_THAT(out_.str(), Not(HasSubstr("--retries")));
}

// --retries covers UNAVAILABLE in frames mode too: a frame whose stream
// broke before its answer is sent again on a new stream.
TEST_F(CommandsTest, BenchFramesSendAgainAfterAStreamBreaks) {
  absl::SetFlag(&FLAGS_json, true);
  absl::SetFlag(&FLAGS_count, 5);
  absl::SetFlag(&FLAGS_size, "16x16");
  absl::SetFlag(&FLAGS_mode, "frames");
  absl::SetFlag(&FLAGS_retries, 3);
  server_.service().end_frames_after = 2;  // every stream, after 2 answers
  const absl::Status s = Run("bench", {});
  EXPECT_TRUE(s.ok()) << s;
  EXPECT_THAT(out_.str(),
              HasSubstr("\"requests\":5,\"errors\":0,\"frames\":5"));
}

// An answer that is not the frame's own (a stream out of step: three answers
// to each frame) is an error, not a frame stylized.
TEST_F(CommandsTest, BenchFramesCountOnlyTheFramesOwnAnswers) {
  absl::SetFlag(&FLAGS_json, true);
  absl::SetFlag(&FLAGS_count, 4);
  absl::SetFlag(&FLAGS_concurrency, 1);
  absl::SetFlag(&FLAGS_size, "16x16");
  absl::SetFlag(&FLAGS_mode, "frames");
  server_.service().answers_per_frame = 3;
  const absl::Status s = Run("bench", {});
  server_.service().answers_per_frame = 1;
  EXPECT_EQ(ExitCodeFor(s), kExitFailure) << s;
  // Frame 0 is answered 0, 1 and 2: frames 1 and 2 read the answers that
  // look like theirs, frame 3 reads frame 1's first answer.
  EXPECT_THAT(out_.str(),
              HasSubstr("\"requests\":3,\"errors\":1,\"frames\":3"));
  EXPECT_THAT(out_.str(),
              HasSubstr("the server answered frame 3 with 1 images for frame "
                        "1 (1 styles were asked)"));
}

}  // namespace
}  // namespace stylizer::client
