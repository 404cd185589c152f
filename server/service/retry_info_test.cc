// Tests of retry hints: absl payloads, google.rpc details, pushback values.
#include "server/service/retry_info.h"

#include <gtest/gtest.h>

#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"

namespace stylizer {
namespace {

TEST(RetryInfoTest, DelayIsCarriedRoundedUpToMilliseconds) {
  const absl::Status s = WithRetryDelay(absl::ResourceExhaustedError("busy"),
                                        absl::Microseconds(1500));
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(s.message(), "busy");
  ASSERT_TRUE(RetryDelay(s).has_value());
  EXPECT_EQ(*RetryDelay(s), absl::Milliseconds(2));
  EXPECT_EQ(*RetryDelay(WithRetryDelay(absl::UnavailableError("x"),
                                       absl::ZeroDuration())),
            absl::Milliseconds(1));
  EXPECT_FALSE(RetryDelay(absl::ResourceExhaustedError("too big")).has_value());
  EXPECT_TRUE(WithRetryDelay(absl::OkStatus(), absl::Seconds(1)).ok());
}

TEST(RetryInfoTest, DetailsAreAGoogleRpcStatusWithRetryInfo) {
  const absl::Status s = WithRetryDelay(absl::ResourceExhaustedError("busy"),
                                        absl::Milliseconds(2500));
  google::rpc::Status rpc;
  ASSERT_TRUE(rpc.ParseFromString(RpcStatusDetails(s)));
  EXPECT_EQ(rpc.code(), 8);  // RESOURCE_EXHAUSTED
  EXPECT_EQ(rpc.message(), "busy");
  ASSERT_EQ(rpc.details_size(), 1);
  EXPECT_EQ(rpc.details(0).type_url(),
            "type.googleapis.com/google.rpc.RetryInfo");
  google::rpc::RetryInfo info;
  ASSERT_TRUE(rpc.details(0).UnpackTo(&info));
  EXPECT_EQ(info.retry_delay().seconds(), 2);
  EXPECT_EQ(info.retry_delay().nanos(), 500000000);

  // And back, onto a status of the client's own wording.
  const absl::Status back = WithRetryDelayFrom(
      absl::ResourceExhaustedError("the server is busy"), RpcStatusDetails(s));
  ASSERT_TRUE(RetryDelay(back).has_value());
  EXPECT_EQ(*RetryDelay(back), absl::Milliseconds(2500));
  EXPECT_EQ(back.message(), "the server is busy");
}

TEST(RetryInfoTest, NoHintNoDetails) {
  EXPECT_EQ(RpcStatusDetails(absl::ResourceExhaustedError("too big")), "");
  EXPECT_EQ(RpcStatusDetails(absl::OkStatus()), "");
}

TEST(RetryInfoTest, DetailsWithoutAUsableRetryInfoAddNothing) {
  const absl::Status base = absl::ResourceExhaustedError("x");
  EXPECT_FALSE(RetryDelay(WithRetryDelayFrom(base, "")).has_value());
  EXPECT_FALSE(
      RetryDelay(WithRetryDelayFrom(base, "\xff\xff garbage")).has_value());
  google::rpc::Status other;  // a detail of another type
  other.add_details()->PackFrom(google::rpc::DebugInfo());
  EXPECT_FALSE(RetryDelay(WithRetryDelayFrom(base, other.SerializeAsString()))
                   .has_value());
  google::rpc::Status negative;
  google::rpc::RetryInfo info;
  info.mutable_retry_delay()->set_seconds(-5);
  negative.add_details()->PackFrom(info);
  EXPECT_FALSE(
      RetryDelay(WithRetryDelayFrom(base, negative.SerializeAsString()))
          .has_value());
  EXPECT_TRUE(WithRetryDelayFrom(absl::OkStatus(), "x").ok());
}

TEST(RetryInfoTest, RewordingKeepsTheHint) {
  const absl::Status s = Reworded(
      WithRetryDelay(absl::ResourceExhaustedError("busy"), absl::Seconds(3)),
      absl::StatusCode::kResourceExhausted, "busy (a smaller input helps)");
  EXPECT_EQ(s.message(), "busy (a smaller input helps)");
  ASSERT_TRUE(RetryDelay(s).has_value());
  EXPECT_EQ(*RetryDelay(s), absl::Seconds(3));
  EXPECT_TRUE(Reworded(s, absl::StatusCode::kOk, "").ok());
}

TEST(RetryInfoTest, PushbackAsksToWaitOrNeverToRetry) {
  EXPECT_EQ(RetryPushbackMs(WithRetryDelay(absl::ResourceExhaustedError("b"),
                                           absl::Milliseconds(750))),
            "750");
  EXPECT_EQ(RetryPushbackMs(WithRetryDelay(absl::UnavailableError("loading"),
                                           absl::Seconds(1))),
            "1000");
  // Too large: gRPC's retry policies must not send it again.
  EXPECT_EQ(RetryPushbackMs(absl::ResourceExhaustedError("too big")), "-1");
  EXPECT_FALSE(RetryPushbackMs(absl::UnavailableError("down")).has_value());
  EXPECT_FALSE(RetryPushbackMs(absl::InvalidArgumentError("bad")).has_value());
  EXPECT_FALSE(RetryPushbackMs(absl::OkStatus()).has_value());
}

}  // namespace
}  // namespace stylizer
