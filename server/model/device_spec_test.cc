#include "server/model/device_spec.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace stylizer {
namespace {

using ::testing::HasSubstr;

TEST(DeviceSpecTest, TakesTheFourSpellingsInAnyCase) {
  EXPECT_EQ(ParseDeviceSpec("auto")->kind, DeviceSpec::Kind::kAuto);
  EXPECT_EQ(ParseDeviceSpec("CPU")->kind, DeviceSpec::Kind::kCpu);
  const auto all = ParseDeviceSpec("cuda");
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->kind, DeviceSpec::Kind::kCuda);
  EXPECT_EQ(all->index, -1);
  const auto third = ParseDeviceSpec("Cuda:3");
  ASSERT_TRUE(third.ok());
  EXPECT_EQ(third->kind, DeviceSpec::Kind::kCuda);
  EXPECT_EQ(third->index, 3);
  EXPECT_EQ(ParseDeviceSpec("cuda:0")->index, 0);
}

TEST(DeviceSpecTest, RefusesOtherSpellingsQuotingThem) {
  for (const char* bad :
       {"", "gpu", "tpu", "cuda:", "cuda:-1", "cuda:+1", "cuda: 1", "cuda:1 ",
        "cuda:x", "cuda:99999999999", " cpu", "cuda0"}) {
    const auto parsed = ParseDeviceSpec(bad);
    ASSERT_FALSE(parsed.ok()) << bad;
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(parsed.status().message(),
                HasSubstr(std::string("\"") + bad + "\" is not auto, cpu"));
  }
}

TEST(PrecisionRequestTest, TakesTheFourWordsInAnyCase) {
  EXPECT_EQ(*ParsePrecisionRequest("auto"), PrecisionRequest::kAuto);
  EXPECT_EQ(*ParsePrecisionRequest("FP32"), PrecisionRequest::kFp32);
  EXPECT_EQ(*ParsePrecisionRequest("fp16"), PrecisionRequest::kFp16);
  EXPECT_EQ(*ParsePrecisionRequest("Bf16"), PrecisionRequest::kBf16);
  for (const char* bad : {"", "int8", "fp64", "half", "bfloat16", " fp32"}) {
    const auto parsed = ParsePrecisionRequest(bad);
    ASSERT_FALSE(parsed.ok()) << bad;
    EXPECT_THAT(parsed.status().message(),
                HasSubstr("is not auto, fp32, bf16 or fp16"));
  }
}

}  // namespace
}  // namespace stylizer
