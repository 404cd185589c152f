#include "server/metrics/log_sampler.h"

#include "gtest/gtest.h"

namespace stylizer {
namespace {

TEST(LogSamplerTest, ABurstThenTheRateAndTheCountOfWhatWasLeftOut) {
  LogSampler sampler(10);
  const absl::Time t0 = absl::FromUnixSeconds(1000);
  int64_t left_out = -1;
  int admitted = 0;
  for (int i = 0; i < 100; ++i) admitted += sampler.Admit(t0, &left_out);
  EXPECT_EQ(admitted, 10);  // the burst
  EXPECT_EQ(left_out, 0);
  // A tenth of a second later: one more, which says 90 were left out.
  ASSERT_TRUE(sampler.Admit(t0 + absl::Milliseconds(100), &left_out));
  EXPECT_EQ(left_out, 90);
  EXPECT_FALSE(sampler.Admit(t0 + absl::Milliseconds(100), &left_out));
  // A quiet minute refills the burst, no more.
  admitted = 0;
  for (int i = 0; i < 50; ++i) {
    admitted += sampler.Admit(t0 + absl::Minutes(1), &left_out);
  }
  EXPECT_EQ(admitted, 10);
}

}  // namespace
}  // namespace stylizer
