// Tests of reading a gRPC target's addresses (numeric names and localhost
// only: no DNS).
#include "client/target_addresses.h"

#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"

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

// gRPC takes a port modulo 65536: --server=h:115303 reached port 49767 and
// h:-1 tried 65535; it dials port 0 for a named port other than http and
// https ("h:ssh", a typo such as "h:5oo51"). Such ports are refused; names
// and schemes without a TCP port pass.
TEST(CheckTargetPortsTest, PortsOutsideTheirRangeAreRefused) {
  for (const char* bad : {"127.0.0.1:115303",
                          "h:-1",
                          "h:0",
                          "h:65536",
                          "[::1]:70000",
                          "dns:///h:99999",
                          "ipv4:127.0.0.1:1,127.0.0.1:70000",
                          "h:99999999999999999999",
                          "127.0.0.1",
                          "h:",
                          "[::1]:",
                          "ipv4:127.0.0.1:1,127.0.0.2",
                          "h:ssh",
                          "h:5oo51",
                          "127.0.0.1:abc",
                          "[::1]:x",
                          "dns:///h:port",
                          "h:-",
                          "::1",
                          "[::1]",
                          "ipv6:[::1]",
                          "[2001:db8::1]"}) {
    EXPECT_EQ(CheckTargetPorts(bad).code(), absl::StatusCode::kInvalidArgument)
        << bad;
  }
  for (const char* good :
       {"127.0.0.1:50051", "h:65535", "h:1", "h", "[::1]:50051", "dns:///h:443",
        "dns://8.8.8.8:53/h:50051", "ipv6:[::1]:1,[::1]:2", "unix:/tmp/s.sock",
        "unix:///tmp/s.sock", "h:https", "dns:///127.0.0.1", "h:http",
        "dns:///h:https"}) {
    EXPECT_TRUE(CheckTargetPorts(good).ok()) << good;
  }
}

// ipv4: and ipv6: lists take numeric addresses only: a name among them
// failed the channel, and the CLI said "the server answered UNKNOWN:
// Failed to create secure client channel", exit 1.
TEST(CheckTargetPortsTest, ListsOfAddressesTakeNumbersOnly) {
  for (const char* bad :
       {"ipv4:127.0.0.1:1,bogus:1", "ipv4:localhost:50051",
        "ipv4:127.0.0.1:1,[::1]:2", "ipv6:[::1]:1,127.0.0.1:2",
        "ipv6:[localhost]:1", "ipv4:1.2.3:4", "ipv4:256.1.1.1:5"}) {
    const absl::Status s = CheckTargetPorts(bad);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_THAT(std::string(s.message()),
                ::testing::HasSubstr("list takes numeric addresses only"))
        << bad;
  }
  EXPECT_EQ(CheckTargetPorts("ipv4:127.0.0.1:1,bogus:1").message(),
            "--server=ipv4:127.0.0.1:1,bogus:1: 'bogus:1' is not an IPv4 "
            "address with a port (10.0.0.1:50051); an ipv4: list takes "
            "numeric addresses only (dns:///NAME:PORT names the replicas "
            "behind a name)");
  EXPECT_TRUE(CheckTargetPorts("ipv4:10.0.0.1:1,192.168.1.2:50051").ok());
  EXPECT_TRUE(CheckTargetPorts("ipv6:[fd00::1]:1,[::1]:2").ok());
  EXPECT_TRUE(CheckTargetPorts("ipv6:[fe80::1%eth0]:50051").ok());
  EXPECT_TRUE(CheckTargetPorts("ipv6:[::ffff:127.0.0.1]:50051").ok());
}

// A plaintext call to these stays on this machine: a token may go without
// TLS without a warning.
TEST(TargetIsLocalTest, LoopbackAndUnixSocketsOnly) {
  for (const char* local :
       {"localhost:50051", "127.0.0.1:50051", "127.3.4.5:1", "[::1]:50051",
        "ipv4:127.0.0.1:1,127.0.0.2:2", "ipv6:[::1]:1", "dns:///localhost:1",
        "dns://8.8.8.8/localhost:1", "unix:/run/stylizer.sock", "LOCALHOST:1",
        "0.0.0.0:50051", "[::]:50051"}) {
    EXPECT_TRUE(TargetIsLocal(local)) << local;
  }
  for (const char* remote :
       {"stylizer:50051", "10.0.0.7:50051", "[2001:db8::1]:50051",
        "ipv4:127.0.0.1:1,10.0.0.7:2", "dns:///stylizer.svc:50051",
        "127.0.0.1.evil.example:50051", "localhost.evil:1"}) {
    EXPECT_FALSE(TargetIsLocal(remote)) << remote;
  }
}

// Targets that gRPC dials on 443, which the CLI then names.
TEST(NamesNoPortTest, AHostWithoutAPort) {
  for (const char* portless :
       {"localhost", "stylizer", "dns:///stylizer.svc"}) {
    EXPECT_TRUE(NamesNoPort(portless)) << portless;
  }
  for (const char* with_port :
       {"localhost:50051", "[::1]:50051", "dns:///stylizer.svc:50051",
        "unix:/run/stylizer.sock", "ipv4:127.0.0.1:1,10.0.0.7:2",
        // IP literals without a port: gRPC dials port 0, and the CLI
        // refuses them before (CheckTargetPorts).
        "127.0.0.1", "::1", "[::1]"}) {
    EXPECT_FALSE(NamesNoPort(with_port)) << with_port;
  }
}

// The CLI's look at an address that gRPC could not reach: a listening
// port takes the connection, a closed one does not.
TEST(AcceptsConnectionsTest, AListeningPortAndAClosedOne) {
  const int listener = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(listener, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(
      bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof(address)),
      0);
  ASSERT_EQ(listen(listener, 4), 0);
  socklen_t length = sizeof(address);
  getsockname(listener, reinterpret_cast<sockaddr*>(&address), &length);
  const int port = ntohs(address.sin_port);
  const absl::Duration second = absl::Seconds(1);
  EXPECT_TRUE(AcceptsConnections(absl::StrCat("127.0.0.1:", port), second));
  EXPECT_TRUE(AcceptsConnections(absl::StrCat("localhost:", port), second));
  EXPECT_TRUE(AcceptsConnections(
      absl::StrCat("ipv4:127.0.0.1:1,127.0.0.1:", port), second));
  EXPECT_TRUE(
      AcceptsConnections(absl::StrCat("dns:///127.0.0.1:", port), second));
  close(listener);
  EXPECT_FALSE(AcceptsConnections(absl::StrCat("127.0.0.1:", port), second));
  EXPECT_FALSE(AcceptsConnections("unix:/nonexistent.sock", second));
}

}  // namespace
}  // namespace stylizer::client
