// Tests of SecretsReadableByOthers on files of each mode.
#include "server/secret_files.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

namespace stylizer {
namespace {

TEST(SecretFilesTest, OnlyFilesOthersMayReadAreNamed) {
  const std::string dir = ::testing::TempDir();
  const std::string shared = dir + "/secret_files_test.shared";
  const std::string group = dir + "/secret_files_test.group";
  const std::string own = dir + "/secret_files_test.own";
  const std::string link = dir + "/secret_files_test.link";
  for (const std::string& p : {shared, group, own}) std::ofstream(p) << "x";
  chmod(shared.c_str(), 0644);
  chmod(group.c_str(), 0440);  // a Secret with defaultMode 0440 and fsGroup
  chmod(own.c_str(), 0600);
  std::remove(link.c_str());
  ASSERT_EQ(symlink(shared.c_str(), link.c_str()), 0);  // as a Secret's are

  const std::vector<OpenSecret> open = SecretsReadableByOthers(
      {{"--tls_key", shared},
       {"--auth_token_file", group},
       {"--tls_key", own},
       {"--auth_token_file", link},
       {"--auth_token_file", ""},
       {"--tls_key", dir + "/secret_files_test.missing"}});
  ASSERT_EQ(open.size(), 2u);
  EXPECT_EQ(open[0].flag, "--tls_key");
  EXPECT_EQ(open[0].path, shared);
  EXPECT_EQ(open[0].mode, 0644u);
  EXPECT_EQ(open[1].flag, "--auth_token_file");
  EXPECT_EQ(open[1].path, link);
  for (const std::string& p : {shared, group, own, link}) {
    std::remove(p.c_str());
  }
}

}  // namespace
}  // namespace stylizer
