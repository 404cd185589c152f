#include "server/common/listen_check.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace stylizer {
namespace {

using ::testing::HasSubstr;

TEST(ListenCheckTest, NamesThatResolveAndNamesThatDoNot) {
  for (const char* host :
       {"127.0.0.1", "0.0.0.0", "localhost", "::1", "[::]"}) {
    EXPECT_TRUE(CheckHostResolves("host", host).ok()) << host;
  }
  const absl::Status bad = CheckHostResolves("host", "not.a.host.invalid");
  EXPECT_EQ(bad.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(bad.message(), HasSubstr("--host=not.a.host.invalid does not "
                                       "resolve"));
}

// The server said "port in use, or the TLS files do not match?" whatever the
// cause.
TEST(ListenCheckTest, SaysWhyABindFails) {
  // A port this test holds.
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in address = {};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)),
            0);
  ASSERT_EQ(listen(fd, 1), 0);
  socklen_t size = sizeof(address);
  ASSERT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&address), &size), 0);
  const int port = ntohs(address.sin_port);
  EXPECT_THAT(WhyCannotListen("127.0.0.1", port),
              HasSubstr(absl::StrCat("port ", port, " is in use")));
  close(fd);
  EXPECT_THAT(WhyCannotListen("127.0.0.1", port),
              HasSubstr("the port is free here"));
  // TEST-NET-1 (RFC 5737): never an address of this machine.
  EXPECT_THAT(WhyCannotListen("192.0.2.1", port),
              HasSubstr("192.0.2.1 is not an address of this machine"));
  EXPECT_THAT(WhyCannotListen("not.a.host.invalid", port),
              HasSubstr("does not resolve"));
}

}  // namespace
}  // namespace stylizer
