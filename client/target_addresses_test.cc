// Tests of counting a gRPC target's addresses (numeric names only: no DNS).
#include "client/target_addresses.h"

#include <gtest/gtest.h>

namespace stylizer::client {
namespace {

TEST(CountTargetAddressesTest, Lists) {
  EXPECT_EQ(CountTargetAddresses("ipv4:127.0.0.1:1,127.0.0.1:2,127.0.0.1:3"),
            3);
  EXPECT_EQ(CountTargetAddresses("ipv4:127.0.0.1:1,127.0.0.1:1"), 1);
  EXPECT_EQ(CountTargetAddresses("ipv6:[::1]:1,[::1]:2"), 2);
}

TEST(CountTargetAddressesTest, OneAddress) {
  EXPECT_EQ(CountTargetAddresses("127.0.0.1:50051"), 1);
  EXPECT_EQ(CountTargetAddresses("dns:///127.0.0.1:50051"), 1);
  EXPECT_EQ(CountTargetAddresses("dns://127.0.0.1:53/127.0.0.1:50051"), 1);
  EXPECT_EQ(CountTargetAddresses("[::1]:50051"), 1);
  EXPECT_EQ(CountTargetAddresses("unix:/tmp/stylizer.sock"), 1);
  EXPECT_EQ(CountTargetAddresses("unix:///tmp/stylizer.sock"), 1);
}

}  // namespace
}  // namespace stylizer::client
