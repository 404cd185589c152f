// Tests of HostPort: IPv6 literals get brackets, the rest is joined as is.
#include "server/common/host_port.h"

#include "gtest/gtest.h"

namespace stylizer {
namespace {

TEST(HostPortTest, BracketsIpv6Literals) {
  EXPECT_EQ(HostPort("::1", 50051), "[::1]:50051");
  EXPECT_EQ(HostPort("::", 0), "[::]:0");
  EXPECT_EQ(HostPort("[::]", 9464), "[::]:9464");
  EXPECT_EQ(HostPort("127.0.0.1", 50051), "127.0.0.1:50051");
  EXPECT_EQ(HostPort("localhost", 1), "localhost:1");
}

}  // namespace
TEST(IsLoopbackHostTest, LocalhostLoopbackAddressesAndNothingElse) {
  for (const char* host :
       {"localhost", "LOCALHOST", "127.0.0.1", "127.3.4.5", "::1", "[::1]"}) {
    EXPECT_TRUE(IsLoopbackHost(host)) << host;
  }
  for (const char* host : {"0.0.0.0", "[::]", "10.0.0.7", "127.0.0.1.evil",
                           "localhost.evil", "stylizer", ""}) {
    EXPECT_FALSE(IsLoopbackHost(host)) << host;
  }
}

}  // namespace stylizer
