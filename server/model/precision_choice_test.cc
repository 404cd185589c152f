// Tests of the precision plan (which candidates a device gets, and why the
// others are skipped) and of the choice among trial results.
#include "server/model/precision_choice.h"

#include <limits>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace stylizer {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

// A 2-core AVX2 machine: no bf16 or fp16 instructions.
DeviceCapabilities Avx2Cpu() { return DeviceCapabilities{}; }

DeviceCapabilities SapphireRapidsCpu(bool libtorch2) {
  DeviceCapabilities d;
  d.cpu.avx512_bf16 = d.cpu.amx_bf16 = d.cpu.avx512_fp16 = true;
  d.cpu_fp16_kernels = libtorch2;
  return d;
}

TEST(CpuFeaturesTest, NativeNeedsTheInstructionsAndTheOneDnnLimit) {
  CpuFeatures f;
  EXPECT_FALSE(f.NativeBf16());
  EXPECT_FALSE(f.NativeFp16());
  EXPECT_THAT(f.Describe(), HasSubstr("no avx512_bf16"));
  f.amx_bf16 = true;
  EXPECT_TRUE(f.NativeBf16());
  f.onednn_isa_limit = "AVX2";
  EXPECT_FALSE(f.NativeBf16());
  EXPECT_THAT(f.Describe(), HasSubstr("oneDNN limited to AVX2"));
  f.onednn_isa_limit = "avx512_core_amx";
  EXPECT_TRUE(f.NativeBf16());
  EXPECT_FALSE(f.NativeFp16());
  f.avx512_fp16 = true;
  f.onednn_isa_limit = "";
  EXPECT_TRUE(f.NativeFp16());
}

TEST(CpuFeaturesTest, DetectDoesNotCrash) {
  const CpuFeatures f = DetectCpuFeatures();
  EXPECT_FALSE(f.Describe().empty());
}

TEST(PlanPrecisionsTest, AutoOnAnAvx2CpuTriesOnlyFp32AndSaysWhy) {
  auto plan = PlanPrecisions("auto", Avx2Cpu());
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_THAT(plan->candidates, ElementsAre(Precision::kFp32));
  ASSERT_EQ(plan->skipped.size(), 2u);
  EXPECT_THAT(plan->skipped[0], HasSubstr("bf16 skipped: no native bf16"));
  EXPECT_THAT(plan->skipped[1], HasSubstr("fp16 skipped"));
}

// The fp16 line said "no avx512_fp16/amx_fp16" on a CPU that has them when
// ONEDNN_MAX_CPU_ISA ruled them out.
TEST(PlanPrecisionsTest, AnIsaLimitIsNamedAsTheReason) {
  DeviceCapabilities d = SapphireRapidsCpu(true);
  d.cpu.onednn_isa_limit = "AVX2";
  auto plan = PlanPrecisions("auto", d);
  ASSERT_TRUE(plan.ok());
  EXPECT_THAT(plan->candidates, ElementsAre(Precision::kFp32));
  ASSERT_EQ(plan->skipped.size(), 2u);
  for (const std::string& line : plan->skipped) {
    EXPECT_THAT(line, HasSubstr("oneDNN limited to AVX2")) << line;
  }
}

TEST(PlanPrecisionsTest, AutoOnABf16Cpu) {
  auto plan = PlanPrecisions("AUTO", SapphireRapidsCpu(false));
  ASSERT_TRUE(plan.ok());
  EXPECT_THAT(plan->candidates,
              ElementsAre(Precision::kFp32, Precision::kBf16));
  ASSERT_EQ(plan->skipped.size(), 1u);
  EXPECT_THAT(plan->skipped[0], HasSubstr("no fp16 CPU convolutions"));

  plan = PlanPrecisions("auto", SapphireRapidsCpu(true));
  ASSERT_TRUE(plan.ok());
  EXPECT_THAT(plan->candidates, ElementsAre(Precision::kFp32, Precision::kBf16,
                                            Precision::kFp16));
  EXPECT_THAT(plan->skipped, IsEmpty());
}

TEST(PlanPrecisionsTest, AutoOnCuda) {
  DeviceCapabilities gpu;
  gpu.cuda = true;
  auto plan = PlanPrecisions("auto", gpu);
  ASSERT_TRUE(plan.ok());
  EXPECT_THAT(plan->candidates, ElementsAre(Precision::kFp32, Precision::kFp16,
                                            Precision::kBf16));
  gpu.cuda_bf16 = false;  // e.g. a Turing GPU
  plan = PlanPrecisions("auto", gpu);
  ASSERT_TRUE(plan.ok());
  EXPECT_THAT(plan->candidates,
              ElementsAre(Precision::kFp32, Precision::kFp16));
  EXPECT_THAT(plan->skipped, ElementsAre(HasSubstr("no bf16")));
}

// bf16 asked for on a GPU without bf16 arithmetic (before compute
// capability 8.0) is refused naming the GPU; its trial used to fail with a
// message saying the archive must implement forward().
TEST(PlanPrecisionsTest, Bf16OnAGpuWithoutIt) {
  DeviceCapabilities gpu;
  gpu.cuda = true;
  gpu.cuda_bf16 = false;
  auto plan = PlanPrecisions("bf16", gpu);
  EXPECT_EQ(plan.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(plan.status().message(), HasSubstr("compute capability 8.0"));
  gpu.cuda_bf16 = true;
  plan = PlanPrecisions("bf16", gpu);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_THAT(plan->candidates, ElementsAre(Precision::kBf16));
}

TEST(PlanPrecisionsTest, ExplicitChoices) {
  auto plan = PlanPrecisions("bf16", Avx2Cpu());
  ASSERT_TRUE(plan.ok());
  EXPECT_THAT(plan->candidates, ElementsAre(Precision::kBf16));
  EXPECT_THAT(plan->warning, HasSubstr("emulated"));
  plan = PlanPrecisions("bf16", SapphireRapidsCpu(false));
  ASSERT_TRUE(plan.ok());
  EXPECT_TRUE(plan->warning.empty());
  plan = PlanPrecisions("fp32", Avx2Cpu());
  ASSERT_TRUE(plan.ok());
  EXPECT_THAT(plan->candidates, ElementsAre(Precision::kFp32));

  // fp16 on the CPU needs the instructions and LibTorch 2.
  for (const DeviceCapabilities& cpu : {Avx2Cpu(), SapphireRapidsCpu(false)}) {
    plan = PlanPrecisions("fp16", cpu);
    EXPECT_EQ(plan.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(plan.status().message(), HasSubstr("CUDA"));
  }
  plan = PlanPrecisions("fp16", SapphireRapidsCpu(true));
  ASSERT_TRUE(plan.ok());
  EXPECT_THAT(plan->candidates, ElementsAre(Precision::kFp16));

  EXPECT_EQ(PlanPrecisions("fp8", Avx2Cpu()).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TrialResult Result(Precision p, double seconds, double psnr = 50,
                   bool abandoned = false, bool failed = false) {
  TrialResult r;
  r.precision = p;
  r.seconds = seconds;
  r.psnr_db = psnr;
  r.abandoned = abandoned;
  r.failed = failed;
  return r;
}

TEST(ChoosePrecisionTest, FastestThatKeepsQuality) {
  const double inf = std::numeric_limits<double>::infinity();
  auto c = ChoosePrecision(
      {Result(Precision::kFp32, 1.0, inf), Result(Precision::kBf16, 0.5, 45)},
      35);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(*c, Precision::kBf16);
  // Too lossy.
  c = ChoosePrecision(
      {Result(Precision::kFp32, 1.0, inf), Result(Precision::kBf16, 0.5, 30)},
      35);
  EXPECT_EQ(*c, Precision::kFp32);
  // Failed.
  c = ChoosePrecision({Result(Precision::kFp32, 1.0, inf),
                       Result(Precision::kFp16, 0.1, 50, false, true)},
                      35);
  EXPECT_EQ(*c, Precision::kFp32);
}

TEST(ChoosePrecisionTest, AbandonedTrialsRankLast) {
  const double inf = std::numeric_limits<double>::infinity();
  // The abandoned trial's one call looked fast (e.g. a lucky first call);
  // it still loses to a completed trial.
  auto c = ChoosePrecision({Result(Precision::kFp32, 1.0, inf),
                            Result(Precision::kBf16, 0.2, 50, true)},
                           35);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(*c, Precision::kFp32);
  // Alone, an explicit choice is kept even if slow.
  c = ChoosePrecision({Result(Precision::kBf16, 20.0, 0, true)}, 35);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(*c, Precision::kBf16);
  EXPECT_EQ(ChoosePrecision({Result(Precision::kBf16, 1, 50, false, true)}, 35)
                .status()
                .code(),
            absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace stylizer
