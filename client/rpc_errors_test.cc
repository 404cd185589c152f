// Tests of gRPC status -> one clear line, and exit codes.
#include "client/rpc_errors.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "server/service/retry_info.h"

namespace stylizer::client {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(RpcErrorsTest, EachCodeReadsClearly) {
  struct Case {
    grpc::StatusCode code;
    const char* says;
  } cases[] = {
      {grpc::StatusCode::UNAVAILABLE,
       "is unavailable (starting up or shutting down"},
      {grpc::StatusCode::UNAUTHENTICATED, "refused our credentials"},
      {grpc::StatusCode::INVALID_ARGUMENT, "rejected the input"},
      {grpc::StatusCode::RESOURCE_EXHAUSTED, "too large for the server"},
      {grpc::StatusCode::DEADLINE_EXCEEDED, "raise --timeout"},
      {grpc::StatusCode::INTERNAL, "see its log"},
      {grpc::StatusCode::UNIMPLEMENTED, "does not offer"},
      {grpc::StatusCode::ABORTED, "ABORTED"},
  };
  for (const Case& c : cases) {
    absl::Status s = FromRpcStatus(grpc::Status(c.code, "detail text"), "h:1");
    EXPECT_EQ(static_cast<int>(s.code()), static_cast<int>(c.code));
    EXPECT_THAT(s.message(), HasSubstr(c.says));
    EXPECT_THAT(s.message(), HasSubstr("detail text"));
    EXPECT_EQ(ExitCodeFor(s), kExitFailure);
  }
  EXPECT_TRUE(FromRpcStatus(grpc::Status::OK, "h:1").ok());
  EXPECT_THAT(FromRpcStatus(grpc::Status(grpc::StatusCode::UNAVAILABLE,
                                         "failed to connect to all addresses"),
                            "h:1")
                  .message(),
              HasSubstr("cannot reach stylizer-server at h:1"));
  // A later attempt of a retried call to nothing ends with another last
  // error; the channel never connected all the same.
  EXPECT_THAT(
      FromRpcStatus(
          grpc::Status(grpc::StatusCode::UNAVAILABLE,
                       "connections to all backends failing; last error: "
                       "UNKNOWN: ipv4:127.0.0.1:1: tcp handshaker shutdown"),
          "h:1")
          .message(),
      HasSubstr("cannot reach stylizer-server at h:1"));
  // A server whose health check says NOT_SERVING is there, only not ready.
  EXPECT_THAT(
      FromRpcStatus(
          grpc::Status(grpc::StatusCode::UNAVAILABLE,
                       "connections to all backends failing; last error: "
                       "UNAVAILABLE: backend unhealthy"),
          "h:1")
          .message(),
      HasSubstr("is unavailable (starting up or shutting down"));
  // Nor is one that answers UNAVAILABLE itself.
  EXPECT_THAT(FromRpcStatus(grpc::Status(grpc::StatusCode::UNAVAILABLE,
                                         "the model is still loading"),
                            "h:1")
                  .message(),
              HasSubstr("is unavailable (starting up or shutting down"));
}

// A refusal the server marks as busy reads so, and keeps its hint for the
// retry policy.
TEST(RpcErrorsTest, ABusyServerReadsAsBusyAndKeepsItsHint) {
  const std::string details = RpcStatusDetails(WithRetryDelay(
      absl::ResourceExhaustedError("slots"), absl::Milliseconds(1200)));
  const absl::Status s = FromRpcStatus(
      grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, "slots", details),
      "h:1");
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(std::string(s.message()),
              ::testing::HasSubstr("the server at h:1 is busy (it asks to "
                                   "retry in 1.2s; --retries"));
  ASSERT_TRUE(RetryDelay(s).has_value());
  EXPECT_EQ(*RetryDelay(s), absl::Milliseconds(1200));

  // A hint past the longest wait obeyed reads as that.
  const absl::Status huge = FromRpcStatus(
      grpc::Status(
          grpc::StatusCode::RESOURCE_EXHAUSTED, "slots",
          RpcStatusDetails(WithRetryDelay(absl::ResourceExhaustedError("slots"),
                                          absl::Hours(1281023894007607)))),
      "h:1");
  EXPECT_THAT(std::string(huge.message()),
              ::testing::HasSubstr("it asks to retry in more than 30s;"));

  const absl::Status too_big = FromRpcStatus(
      grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, "over the limit"),
      "h:1");
  EXPECT_THAT(std::string(too_big.message()),
              ::testing::HasSubstr("too large for the server"));
  EXPECT_FALSE(RetryDelay(too_big).has_value());
}

// gRPC's own refusal when the server's buffer quota is spent comes without
// a hint; it is busy all the same.
TEST(RpcErrorsTest, GrpcsQuotaRefusalReadsAsBusy) {
  const absl::Status s = FromRpcStatus(
      grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                   "Received RST_STREAM with error code 11"),
      "h:1");
  EXPECT_THAT(std::string(s.message()), HasSubstr("is busy"));
  ASSERT_TRUE(RetryDelay(s).has_value());
  EXPECT_EQ(*RetryDelay(s), absl::Seconds(1));
  // Its other RESOURCE_EXHAUSTED is about size, and final.
  const absl::Status big = FromRpcStatus(
      grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                   "Received message larger than max (11520190 vs. 4194304)"),
      "h:1");
  EXPECT_THAT(std::string(big.message()), HasSubstr("too large"));
  EXPECT_FALSE(RetryDelay(big).has_value());
}

// gRPC's refusal of a call whose headers are over the server's limit is
// about the headers (a long token), not the input; it stays final.
TEST(RpcErrorsTest, HeadersOverTheLimitAreNotTheInput) {
  const grpc::Status refused(grpc::StatusCode::RESOURCE_EXHAUSTED,
                             "received initial metadata size exceeds limit");
  absl::Status s = FromRpcStatus(refused, "h:1", "5f2c", 70000);
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(s.message(),
            "the request's headers are larger than the server accepts (the "
            "token from --token_file is 70000 bytes): received initial "
            "metadata size exceeds limit (request id 5f2c)");
  EXPECT_FALSE(RetryDelay(s).has_value());
  s = FromRpcStatus(refused, "h:1");
  EXPECT_THAT(std::string(s.message()),
              HasSubstr("the call's headers are larger than gRPC accepts"));
  EXPECT_THAT(std::string(s.message()), Not(HasSubstr("too large")));
}

// The server's idle timeout ended the stream: --timeout (maybe not even
// set) has nothing to do with it.
TEST(RpcErrorsTest, TheServersIdleTimeoutIsNotOurTimeout) {
  const absl::Status s = FromRpcStatus(
      grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED,
                   "the client sent nothing for 2s (the server's stream idle "
                   "timeout, --stream_idle_timeout); the stream is closed"),
      "h:1");
  EXPECT_THAT(s.message(), HasSubstr("the server ended the stream: "));
  EXPECT_THAT(s.message(), ::testing::Not(HasSubstr("raise --timeout")));
  // Nor with the server's floor on an upload's pace.
  const absl::Status slow = FromRpcStatus(
      grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED,
                   "the upload is too slow: 100 bytes came in the last 30s "
                   "the server measures, under its floor of 1024 bytes/s "
                   "(--upload_min_rate); the stream is closed"),
      "h:1");
  EXPECT_THAT(slow.message(), HasSubstr("the server ended the stream: "));
  EXPECT_THAT(slow.message(), ::testing::Not(HasSubstr("raise --timeout")));
}

TEST(RpcErrorsTest, TheRequestIdEndsTheLine) {
  const absl::Status s = FromRpcStatus(
      grpc::Status(grpc::StatusCode::INTERNAL, "boom"), "h:1", "5f2c9e0d");
  EXPECT_EQ(s.message(),
            "the server failed (see its log): boom (request id 5f2c9e0d)");
  EXPECT_TRUE(FromRpcStatus(grpc::Status::OK, "h:1", "5f2c9e0d").ok());
  // No server logged a call that never connected.
  const absl::Status unreached = FromRpcStatus(
      grpc::Status(grpc::StatusCode::UNAVAILABLE, "failed to connect"), "h:1",
      "5f2c9e0d");
  EXPECT_THAT(std::string(unreached.message()), HasSubstr("cannot reach"));
  EXPECT_THAT(std::string(unreached.message()),
              ::testing::Not(HasSubstr("request id")));
  // Nor one the channel's health check kept from a server still loading.
  const absl::Status unhealthy = FromRpcStatus(
      grpc::Status(grpc::StatusCode::UNAVAILABLE,
                   "connections to all backends failing; last error: "
                   "UNAVAILABLE: backend unhealthy"),
      "h:1", "5f2c9e0d");
  EXPECT_THAT(std::string(unhealthy.message()), HasSubstr("is unavailable"));
  EXPECT_THAT(std::string(unhealthy.message()),
              ::testing::Not(HasSubstr("request id")));
}

TEST(RpcErrorsTest, ExitCodes) {
  EXPECT_EQ(ExitCodeFor(absl::OkStatus()), kExitOk);
  EXPECT_EQ(ExitCodeFor(absl::NotFoundError("x")), kExitFailure);
  EXPECT_EQ(ExitCodeFor(absl::InvalidArgumentError("x")), kExitFailure);
  EXPECT_EQ(ExitCodeFor(UsageError("bad flag")), kExitUsage);
  EXPECT_TRUE(IsUsageError(UsageError("x")));
  EXPECT_FALSE(IsUsageError(absl::InvalidArgumentError("x")));
}

// The server names its request fields; the CLI's user knows its flags.
TEST(RpcErrorsTest, ServerFieldsAreSaidAsTheCliFlags) {
  EXPECT_EQ(InFlagTerms("the image is 9000x9000 (81000000 pixels), over the "
                        "server's limit of 8294400 pixels; set max_side to "
                        "2880 or less"),
            "the image is 9000x9000 (81000000 pixels), over the server's "
            "limit of 8294400 pixels; set --max_side to 2880 or less");
  EXPECT_EQ(InFlagTerms("with max_side 3 the image becomes 3x1"),
            "with --max_side 3 the image becomes 3x1");
  EXPECT_EQ(InFlagTerms("max_side"), "--max_side");
  EXPECT_EQ(InFlagTerms("a smaller max_side."), "a smaller --max_side.");
  // Already a flag, or a part of another word or name: as it is.
  for (const char* same :
       {"--max_side=4", "a max_sides b", "my_max_side", "max_side_x",
        "max_side.png", "dir/max_side", "x.max_side", "no field here", ""}) {
    EXPECT_EQ(InFlagTerms(same), same);
  }
  // The server's words only: a file of the CLI's named max_side is not the
  // field (`stylizer image max_side` said "cannot open --max_side").
  EXPECT_THAT(
      ErrorLine(FromRpcStatus(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                                           "set max_side to 10"),
                              "h:1")),
      HasSubstr("set --max_side to 10"));
  EXPECT_EQ(ErrorLine(absl::NotFoundError("cannot open max_side: x")),
            "cannot open max_side: x");
}

TEST(RpcErrorsTest, ErrorLineIsOneLine) {
  EXPECT_EQ(ErrorLine(absl::InternalError("a\nb\r\nc\n")), "a b c");
  EXPECT_EQ(ErrorLine(absl::InternalError("")), "INTERNAL");
  // A server's escape sequences would rewrite the line on a terminal.
  EXPECT_EQ(ErrorLine(absl::UnavailableError("busy \x1b[2K\x1b[32mall fine")),
            "busy \\x1b[2K\\x1b[32mall fine");
}

bool Accepts(absl::string_view) { return true; }
bool Refuses(absl::string_view) { return false; }

// gRPC says "cannot reach" both where nothing listens and where a TLS
// handshake failed; a port that takes connections when we look again points
// at TLS, unless the call itself was refused: then the server was (re)starting
// and its TLS setup had nothing to do with it.
TEST(RpcErrorsTest, TheUnreachableHintNamesTlsOnlyWhenTheCallWasNotRefused) {
  const std::string handshake = absl::StrCat(
      kCannotReach,
      "127.0.0.1:50051 (is it running there?): failed to connect to all "
      "addresses; last error: UNAVAILABLE: ipv4:127.0.0.1:50051: Socket "
      "closed");
  EXPECT_THAT(UnreachableHint(handshake, "127.0.0.1:50051", Accepts, false),
              HasSubstr("its TLS setup and ours differ"));
  const std::string refused = absl::StrCat(
      kCannotReach,
      "127.0.0.1:50051 (is it running there?): failed to connect to all "
      "addresses; last error: UNKNOWN: ipv4:127.0.0.1:50051: Failed to "
      "connect to remote host: Connection refused");
  const std::string hint =
      UnreachableHint(refused, "127.0.0.1:50051", Accepts, false);
  EXPECT_THAT(hint, Not(HasSubstr("TLS")));
  EXPECT_THAT(hint, HasSubstr("may have been starting or restarting"));
  EXPECT_EQ(UnreachableHint(refused, "127.0.0.1:50051", Refuses, false), "");
  EXPECT_THAT(UnreachableHint(refused, "localhost", Refuses, true),
              HasSubstr("add the port, e.g. --server=localhost:50051"));
  EXPECT_EQ(UnreachableHint("the server rejected the input: x",
                            "127.0.0.1:50051", Accepts, true),
            "");
}

}  // namespace
}  // namespace stylizer::client
