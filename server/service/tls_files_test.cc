// Tests of the checked TLS file copies: what passes the check, what a
// refresh stages, and that a bad renewal leaves the last good files.
#include "server/service/tls_files.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/service/pem_check.h"
#include "server/service/testing/test_certificate.h"

namespace stylizer {
namespace {

using ::testing::HasSubstr;
namespace fs = std::filesystem;

std::string Read(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

void Write(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp";
  std::ofstream(tmp) << text;
  fs::rename(tmp, path);
}

class TlsFilesTest : public ::testing::Test {
 protected:
  // Two self-signed certificates with their keys (a.*, b.*), and a CA.
  static void SetUpTestSuite() {
    dir_ = new std::string(
        absl::StrCat(::testing::TempDir(), "/tls_files_test.", getpid()));
    fs::create_directories(*dir_);
    const std::string script =
        absl::StrCat("set -e; cd ", *dir_, "; exec >openssl.log 2>&1\n",
                     "for n in a b; do openssl req -x509 -newkey ec -pkeyopt "
                     "ec_paramgen_curve:prime256v1 -nodes -days 2 -subj /CN=$n "
                     "-keyout $n.key -out $n.crt; done\n");
    ASSERT_EQ(std::system(script.c_str()), 0) << Read(*dir_ + "/openssl.log");
  }
  static void TearDownTestSuite() {
    fs::remove_all(*dir_);
    delete dir_;
  }
  static std::string File(const std::string& name) {
    return *dir_ + "/" + name;
  }
  static std::string* dir_;
};
std::string* TlsFilesTest::dir_ = nullptr;

TEST_F(TlsFilesTest, CheckWantsAKeyThatMatchesItsCertificate) {
  const std::string a_crt = Read(File("a.crt")), a_key = Read(File("a.key"));
  const std::string b_key = Read(File("b.key"));
  EXPECT_TRUE(CheckTlsFiles(a_crt, a_key, "").ok());
  EXPECT_TRUE(CheckTlsFiles(a_crt, a_key, Read(File("b.crt"))).ok());
  absl::Status s = CheckTlsFiles(a_crt, b_key, "");
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("does not match"));
  EXPECT_THAT(CheckTlsFiles("garbage", a_key, "").message(),
              HasSubstr("no PEM certificate"));
  EXPECT_THAT(CheckTlsFiles(a_crt, a_crt, "").message(),
              HasSubstr("no PEM private key"));
  // A half-written key: the first half of the file.
  EXPECT_FALSE(
      CheckTlsFiles(a_crt, a_key.substr(0, a_key.size() / 2), "").ok());
  EXPECT_THAT(CheckTlsFiles(a_crt, a_key, "not a CA").message(),
              HasSubstr("client CA"));
}

// A key renewed before its certificate (or the other way round) was read
// by gRPC's watcher as it was, and every new handshake failed until both
// were in place. The copies move only to a pair that matches.
TEST_F(TlsFilesTest, ABadRenewalLeavesTheLastGoodFiles) {
  Write(File("live.key"), Read(File("a.key")));
  Write(File("live.crt"), Read(File("a.crt")));
  auto files = TlsFiles::Create(File("live.key"), File("live.crt"), "");
  ASSERT_TRUE(files.ok()) << files.status();
  const std::string staged_dir = fs::path((*files)->key_path()).parent_path();
  EXPECT_EQ(Read((*files)->key_path()), Read(File("a.key")));
  EXPECT_EQ(Read((*files)->cert_path()), Read(File("a.crt")));
  EXPECT_EQ((*files)->ca_path(), "");
  EXPECT_EQ(*(*files)->RefreshFromOriginals(), TlsFiles::Refresh::kUnchanged);

  Write(File("live.key"), Read(File("b.key")));  // the key first
  auto refresh = (*files)->RefreshFromOriginals();
  EXPECT_EQ(refresh.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(*(*files)->RefreshFromOriginals(),  // reported once
            TlsFiles::Refresh::kUnchanged);
  EXPECT_EQ(Read((*files)->key_path()), Read(File("a.key")));

  Write(File("live.crt"), Read(File("b.crt")));  // then its certificate
  EXPECT_EQ(*(*files)->RefreshFromOriginals(), TlsFiles::Refresh::kStaged);
  EXPECT_EQ(Read((*files)->key_path()), Read(File("b.key")));
  EXPECT_EQ(Read((*files)->cert_path()), Read(File("b.crt")));

  fs::remove(File("live.key"));  // gone: reported once, the copies stay
  EXPECT_EQ((*files)->RefreshFromOriginals().status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(*(*files)->RefreshFromOriginals(), TlsFiles::Refresh::kUnchanged);
  EXPECT_EQ(Read((*files)->key_path()), Read(File("b.key")));

  const std::string dir = fs::path(staged_dir).parent_path();
  EXPECT_EQ(fs::status(dir).permissions() & fs::perms::all,
            fs::perms::owner_all);
  files->reset();
  EXPECT_FALSE(fs::exists(dir));
}

TEST_F(TlsFilesTest, CreateRefusesBadFiles) {
  EXPECT_EQ(
      TlsFiles::Create(File("missing.key"), File("a.crt"), "").status().code(),
      absl::StatusCode::kNotFound);
  auto files = TlsFiles::Create(File("b.key"), File("a.crt"), "");
  EXPECT_EQ(files.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(files.status().message(), HasSubstr("does not match"));
}

TEST(PemCheckTest, ACertificateOutsideItsValidityPeriodIsRefused) {
  using testing::MakeTestCertificate;
  const auto valid = MakeTestCertificate(-absl::Hours(1), absl::Hours(24));
  EXPECT_TRUE(
      CheckCertificateAndKey(valid.cert_pem, valid.key_pem, "cert", "key")
          .ok());
  const auto expired = MakeTestCertificate(-absl::Hours(48), -absl::Hours(1));
  absl::Status s =
      CheckCertificateAndKey(expired.cert_pem, expired.key_pem, "cert", "key");
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(s.message(), HasSubstr("the cert's certificate expired on 20"));
  EXPECT_THAT(s.message(), HasSubstr(" UTC: renew it"));
  const auto later = MakeTestCertificate(absl::Hours(1), absl::Hours(48));
  s = CheckCertificateAndKey(later.cert_pem, later.key_pem, "cert", "key");
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(s.message(), HasSubstr("is not valid before 20"));
  EXPECT_THAT(s.message(), HasSubstr("this machine's clock says"));
  // A moment ahead of this clock (a CA whose clock is a little fast): fine.
  const auto skewed = MakeTestCertificate(absl::Minutes(1), absl::Hours(48));
  EXPECT_TRUE(
      CheckCertificateAndKey(skewed.cert_pem, skewed.key_pem, "cert", "key")
          .ok());
}

// An expired renewal is refused like any bad one (gRPC took it, and every
// new handshake failed, health probes included); one not valid yet is
// staged once its time has come.
TEST_F(TlsFilesTest, ARenewalOutsideItsValidityPeriodWaitsForItsTime) {
  using testing::MakeTestCertificate;
  const auto good = MakeTestCertificate(-absl::Hours(1), absl::Hours(24));
  Write(File("t.key"), good.key_pem);
  Write(File("t.crt"), good.cert_pem);
  auto files = TlsFiles::Create(File("t.key"), File("t.crt"), "");
  ASSERT_TRUE(files.ok()) << files.status();

  const auto expired = MakeTestCertificate(-absl::Hours(48), -absl::Hours(1));
  Write(File("t.key"), expired.key_pem);
  Write(File("t.crt"), expired.cert_pem);
  auto refresh = (*files)->RefreshFromOriginals();
  EXPECT_EQ(refresh.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(refresh.status().message(), HasSubstr("expired on"));
  EXPECT_EQ(*(*files)->RefreshFromOriginals(), TlsFiles::Refresh::kUnchanged);
  EXPECT_EQ(Read((*files)->cert_path()), good.cert_pem);

  // Valid from 2 s past the clock-skew allowance on.
  const auto soon =
      MakeTestCertificate(absl::Minutes(5) + absl::Seconds(2), absl::Hours(48));
  Write(File("t.key"), soon.key_pem);
  Write(File("t.crt"), soon.cert_pem);
  refresh = (*files)->RefreshFromOriginals();
  EXPECT_EQ(refresh.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(refresh.status().message(), HasSubstr("not valid before"));
  EXPECT_EQ(*(*files)->RefreshFromOriginals(),  // reported once
            TlsFiles::Refresh::kUnchanged);
  EXPECT_EQ(Read((*files)->cert_path()), good.cert_pem);
  const absl::Time until = absl::Now() + absl::Seconds(10);
  absl::StatusOr<TlsFiles::Refresh> later = TlsFiles::Refresh::kUnchanged;
  while (absl::Now() < until && later.ok() &&
         *later == TlsFiles::Refresh::kUnchanged) {
    absl::SleepFor(absl::Milliseconds(200));
    later = (*files)->RefreshFromOriginals();
  }
  ASSERT_TRUE(later.ok()) << later.status();
  EXPECT_EQ(*later, TlsFiles::Refresh::kStaged);
  EXPECT_EQ(Read((*files)->cert_path()), soon.cert_pem);

  // At start, an expired certificate fails it.
  Write(File("t.key"), expired.key_pem);
  Write(File("t.crt"), expired.cert_pem);
  EXPECT_EQ(TlsFiles::Create(File("t.key"), File("t.crt"), "").status().code(),
            absl::StatusCode::kFailedPrecondition);
}

// The copies of a server that was killed (SIGKILL, out of memory) stayed,
// private key and all. The next one removes those whose lock no process
// holds, and only those.
TEST_F(TlsFilesTest, TheCopiesOfAServerThatIsGoneAreRemoved) {
  const std::string tmp = File("tmp");
  fs::create_directories(tmp);
  const auto make = [&](const std::string& name, bool lock_file) {
    fs::create_directories(tmp + "/" + name + "/v1");
    std::ofstream(tmp + "/" + name + "/v1/key.pem") << "key";
    if (lock_file) std::ofstream(tmp + "/" + name + "/lock");
  };
  make("stylizer-tls-gone", true);   // its server ended: nobody holds it
  make("stylizer-tls-alive", true);  // held below, as a running server does
  make("stylizer-tls-old", false);   // a version that made no lock
  make("other-dir", true);
  // Another open file description: flock() conflicts as across processes.
  const int held = open((tmp + "/stylizer-tls-alive/lock").c_str(), O_RDWR);
  ASSERT_GE(held, 0);
  ASSERT_EQ(flock(held, LOCK_EX | LOCK_NB), 0);
  const char* saved = getenv("TMPDIR");
  const std::string saved_value = saved != nullptr ? saved : "";
  setenv("TMPDIR", tmp.c_str(), 1);
  auto files = TlsFiles::Create(File("a.key"), File("a.crt"), "");
  if (saved != nullptr) {
    setenv("TMPDIR", saved_value.c_str(), 1);
  } else {
    unsetenv("TMPDIR");
  }
  ASSERT_TRUE(files.ok()) << files.status();
  EXPECT_FALSE(fs::exists(tmp + "/stylizer-tls-gone"));
  EXPECT_TRUE(fs::exists(tmp + "/stylizer-tls-alive"));
  EXPECT_TRUE(fs::exists(tmp + "/stylizer-tls-old"));
  EXPECT_TRUE(fs::exists(tmp + "/other-dir"));
  // Its own copies are held: the next server leaves them alone.
  EXPECT_EQ(TlsFiles::RemoveOrphanedCopies(tmp), 0);
  EXPECT_TRUE(fs::exists((*files)->key_path()));
  // Once the holder lets go, they are orphans.
  close(held);
  EXPECT_EQ(TlsFiles::RemoveOrphanedCopies(tmp), 1);
  EXPECT_FALSE(fs::exists(tmp + "/stylizer-tls-alive"));
}

}  // namespace
}  // namespace stylizer
