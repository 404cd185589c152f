// Tests of the CLI's command-line parsing: every mistake is a usage error.
#include "client/cli_flags.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/flags/flag.h"
#include "absl/flags/reflection.h"
#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "client/rpc_errors.h"

namespace stylizer::client {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

absl::StatusOr<Invocation> Parse(std::vector<std::string> args) {
  args.insert(args.begin(), "stylizer");
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  return ParseCommandLine(static_cast<int>(argv.size()), argv.data());
}

TEST(CliFlagsTest, GlobalAndCommandFlagsAnywhere) {
  absl::FlagSaver saver;
  auto inv = Parse({"--server=h:1", "video", "in.mp4", "--styles", "all",
                    "--drop_audio", "--timeout=30s", "--crf=23"});
  ASSERT_TRUE(inv.ok()) << inv.status();
  EXPECT_EQ(inv->command, "video");
  EXPECT_THAT(inv->args, ElementsAre("in.mp4"));
  EXPECT_EQ(absl::GetFlag(FLAGS_server), "h:1");
  EXPECT_EQ(absl::GetFlag(FLAGS_styles), "all");
  EXPECT_TRUE(absl::GetFlag(FLAGS_drop_audio));
  EXPECT_EQ(absl::GetFlag(FLAGS_timeout), absl::Seconds(30));
  EXPECT_EQ(absl::GetFlag(FLAGS_crf), 23);
}

TEST(CliFlagsTest, NegatedBoolAndDoubleDash) {
  absl::FlagSaver saver;
  auto inv = Parse({"--preserve_color", "--nopreserve_color", "image", "--",
                    "--weird-name.png"});
  ASSERT_TRUE(inv.ok()) << inv.status();
  EXPECT_FALSE(absl::GetFlag(FLAGS_preserve_color));
  EXPECT_THAT(inv->args, ElementsAre("--weird-name.png"));
}

TEST(CliFlagsTest, Help) {
  absl::FlagSaver saver;
  EXPECT_EQ(Parse({"--help"})->command, "help");
  EXPECT_EQ(Parse({"video", "-h"})->command, "help");
  EXPECT_EQ(Parse({"help"})->command, "help");
  const std::string help = HelpText();
  EXPECT_THAT(help, HasSubstr("--contact_sheet"));
  EXPECT_THAT(help, HasSubstr("--preserve_color"));
  EXPECT_THAT(help, HasSubstr("(default: localhost:50051)"));
  EXPECT_THAT(help, HasSubstr("exit codes"));
  // The note on '-' follows the list of commands instead of splitting it.
  EXPECT_LT(help.find("health [--wait=D]"), help.find("INPUT '-'"));
  // A flag whose help gives its defaults does not get a second, stored one.
  for (absl::string_view line : absl::StrSplit(help, '\n')) {
    for (absl::string_view stored : {"(default: \"\")", "(default: 0)"}) {
      if (!absl::EndsWith(line, stored)) continue;
      EXPECT_FALSE(absl::StrContains(
          line.substr(0, line.size() - stored.size()), "default"))
          << line;
    }
  }
}

// `stylizer video --help` and `stylizer help video`: that command's usage,
// its own flags and the global ones, not another command's.
TEST(CliFlagsTest, EachCommandHasItsHelp) {
  absl::FlagSaver saver;
  auto inv = Parse({"video", "--help"});
  ASSERT_TRUE(inv.ok()) << inv.status();
  EXPECT_EQ(inv->command, "help");
  EXPECT_THAT(inv->args, ElementsAre("video"));
  EXPECT_THAT(Parse({"help", "image"})->args, ElementsAre("image"));
  const std::string video = HelpText("video");
  EXPECT_THAT(video,
              HasSubstr("usage: stylizer [GLOBAL FLAGS] video INPUT..."));
  EXPECT_THAT(video, HasSubstr("--contact_sheet"));
  EXPECT_THAT(video, HasSubstr("--server"));
  EXPECT_THAT(video, Not(HasSubstr("--format")));
  EXPECT_THAT(video, Not(HasSubstr("frames --size")));
  const std::string health = HelpText("health");
  EXPECT_THAT(health, HasSubstr("--service"));
  EXPECT_THAT(health, Not(HasSubstr("--styles")));
  EXPECT_EQ(HelpText("nope"), HelpText());
}

// Every flag in the help is global or belongs to some commands: one in
// neither list went with every command unchecked.
TEST(CliFlagsTest, EveryFlagHasItsCommands) {
  int flags = 0;
  for (absl::string_view line : absl::StrSplit(HelpText(), '\n')) {
    if (!absl::StartsWith(line, "  --")) continue;
    const std::string name(line.substr(4, line.find(' ', 4) - 4));
    EXPECT_FALSE(CommandsOfFlag(name).empty()) << name;
    ++flags;
  }
  EXPECT_EQ(flags, 31);
  EXPECT_THAT(CommandsOfFlag("server"), ElementsAre("every command"));
  EXPECT_THAT(CommandsOfFlag("json"), ElementsAre("bench", "styles"));
  EXPECT_TRUE(CommandsOfFlag("colour").empty());
}

// The global flags go with every command, and each command takes its own.
TEST(CliFlagsTest, EachCommandTakesItsFlags) {
  absl::FlagSaver saver;
  for (const std::vector<std::string>& args :
       std::vector<std::vector<std::string>>{
           {"styles", "--json", "--server=h:1", "--verbose"},
           {"health", "--wait=5s", "--service=stylizer.v1.Stylizer",
            "--timeout=1s", "--progress=none"},
           {"image", "a.png", "--styles=all", "--out=o", "--format=jpg",
            "--preserve_color", "--max_side=64", "--concurrency=2"},
           {"video", "a.mp4", "--styles=0", "--out=o", "--max_side=64",
            "--crf=20", "--container=mkv", "--drop_audio", "--split=auto",
            "--contact_sheet=s.png", "--preserve_color=false"},
           {"frames", "--size=64x64", "--styles=0", "--concurrency=2"},
           {"bench", "--mode=video", "--input=a.mp4", "--count=3",
            "--duration=5s", "--concurrency=2", "--size=64x64", "--json",
            "--styles=1", "--retries=0", "--request_id=x"},
           {"help", "--crf=20"}}) {
    auto inv = Parse(args);
    EXPECT_TRUE(inv.ok()) << args[0] << ": " << inv.status();
  }
}

TEST(CliFlagsTest, MistakesAreUsageErrors) {
  absl::FlagSaver saver;
  struct Case {
    std::vector<std::string> args;
    const char* says;
  } cases[] = {
      {{}, "no command given"},
      {{"--server=x"}, "no command given"},
      {{"paint"}, "unknown command 'paint'"},
      {{"frame"}, "one of: styles, image, video, frames, bench, health"},
      {{"video", "--colour=red"}, "unknown flag --colour=red"},
      {{"video", "--crf=high"}, "bad value for --crf"},
      {{"video", "--timeout=soon"}, "bad value for --timeout"},
      {{"video", "--styles"}, "needs a value"},
      {{"video", "--nostyles"}, "unknown flag"},
      {{"image", "a.png", "--progress=bogus"}, "--progress must be"},
      {{"health", "--progress=loud"}, "--progress must be"},
      {{"video", "--timeout=5"}, "a duration has a unit"},
      // A flag of another command did nothing, with exit 0.
      {{"image", "a.png", "--contact_sheet=x.png"},
       "--contact_sheet does not apply to image (it is for video;"},
      {{"video", "a.mp4", "--size=320x180"},
       "--size does not apply to video (it is for bench and frames;"},
      {{"--crf=20", "image", "a.png"}, "--crf does not apply to image"},
      {{"styles", "--styles=klimt"}, "--styles does not apply to styles"},
      {{"health", "--json"}, "--json does not apply to health"},
      {{"frames", "--nodrop_audio"}, "--drop_audio does not apply to frames"},
      // An unset shell variable ran every style.
      {{"image", "a.png", "--styles="}, "--styles is empty"},
      // "false" was an input, and the flag was on.
      {{"image", "a.png", "--preserve_color", "false"},
       "write --preserve_color=false"},
      {{"video", "--drop_audio", "true", "a.mp4"}, "write --drop_audio=true"},
      {{"video", "--drop_audio", "False", "a.mp4"}, "write --drop_audio=False"},
  };
  for (const Case& c : cases) {
    auto inv = Parse(c.args);
    ASSERT_FALSE(inv.ok());
    EXPECT_TRUE(IsUsageError(inv.status())) << inv.status();
    EXPECT_EQ(ExitCodeFor(inv.status()), kExitUsage);
    EXPECT_THAT(inv.status().message(), HasSubstr(c.says));
  }
}

}  // namespace
}  // namespace stylizer::client
