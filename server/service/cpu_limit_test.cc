// DetectCpuLimit on fake /proc and /sys/fs/cgroup trees: cgroup v2 cpu.max
// and v1 CFS quotas, the lowest along the path, "max" and -1 as no quota,
// fractions rounded up, and the machine's CPUs when there is no quota.
#include "server/service/cpu_limit.h"

#include <filesystem>
#include <fstream>
#include <string>

#include "gtest/gtest.h"

namespace stylizer {
namespace {

class CpuLimitTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ =
        std::filesystem::path(::testing::TempDir()) /
        ("cpu_limit_" +
         std::string(
             ::testing::UnitTest::GetInstance()->current_test_info()->name()));
    std::filesystem::remove_all(root_);
  }
  void TearDown() override { std::filesystem::remove_all(root_); }

  void Write(const std::string& path, const std::string& text) {
    const std::filesystem::path file = root_ / path;
    std::filesystem::create_directories(file.parent_path());
    std::ofstream(file) << text;
  }
  CpuLimit Detect(int machine_cpus = 64) {
    return DetectCpuLimit(root_.string(), machine_cpus);
  }

  std::filesystem::path root_;
};

TEST_F(CpuLimitTest, CgroupV2CpuMax) {
  Write("proc/self/cgroup", "0::/kubepods/pod1/ctr\n");
  Write("sys/fs/cgroup/kubepods/pod1/ctr/cpu.max", "400000 100000\n");
  const CpuLimit limit = Detect();
  EXPECT_EQ(limit.cpus, 4);
  EXPECT_NE(limit.source.find("ctr/cpu.max"), std::string::npos);
}

TEST_F(CpuLimitTest, CgroupV2LowestAncestorWinsAndMaxIsNoQuota) {
  Write("proc/self/cgroup", "0::/kubepods/pod1/ctr\n");
  Write("sys/fs/cgroup/kubepods/pod1/ctr/cpu.max", "max 100000\n");
  Write("sys/fs/cgroup/kubepods/pod1/cpu.max", "250000 100000\n");
  Write("sys/fs/cgroup/kubepods/cpu.max", "800000 100000\n");
  const CpuLimit limit = Detect();
  EXPECT_EQ(limit.cpus, 3);  // 2.5 CPUs: rounded up
  EXPECT_NE(limit.source.find("pod1/cpu.max"), std::string::npos);
}

TEST_F(CpuLimitTest, CgroupV1CfsQuota) {
  Write("proc/self/cgroup",
        "12:memory:/docker/abc\n4:cpu,cpuacct:/docker/abc\n");
  Write("sys/fs/cgroup/cpu/docker/abc/cpu.cfs_quota_us", "200000\n");
  Write("sys/fs/cgroup/cpu/docker/abc/cpu.cfs_period_us", "100000\n");
  Write("sys/fs/cgroup/cpu/cpu.cfs_quota_us", "-1\n");
  Write("sys/fs/cgroup/cpu/cpu.cfs_period_us", "100000\n");
  const CpuLimit limit = Detect();
  EXPECT_EQ(limit.cpus, 2);
  EXPECT_NE(limit.source.find("cpu.cfs_quota_us"), std::string::npos);
}

TEST_F(CpuLimitTest, TheMachineWhenNoQuotaOrAQuotaAboveIt) {
  Write("proc/self/cgroup", "0::/\n");
  Write("sys/fs/cgroup/cpu.max", "max 100000\n");
  EXPECT_EQ(Detect(6).cpus, 6);
  EXPECT_EQ(Detect(6).source, "machine");
  Write("sys/fs/cgroup/cpu.max", "1600000 100000\n");
  EXPECT_EQ(Detect(6).cpus, 6);
  // A tiny quota is still one CPU; malformed files are no quota.
  Write("sys/fs/cgroup/cpu.max", "1000 100000\n");
  EXPECT_EQ(Detect(6).cpus, 1);
  Write("sys/fs/cgroup/cpu.max", "lots\n");
  EXPECT_EQ(Detect(6).cpus, 6);
  // A quota of 3e9 CPUs, which the kernel accepts, is above the machine:
  // it wrapped to a negative count, which won as the lowest.
  Write("sys/fs/cgroup/cpu.max", "3000000000000 1000\n");
  EXPECT_EQ(Detect(6).cpus, 6);
  Write("sys/fs/cgroup/cpu.max", "9223372036854775807 1\n");
  EXPECT_EQ(Detect(6).cpus, 6);
}

TEST_F(CpuLimitTest, NothingReadableIsTheMachine) {
  EXPECT_EQ(Detect(5).cpus, 5);
  // This process: at least one CPU, from its affinity.
  const CpuLimit self = DetectCpuLimit();
  EXPECT_GE(self.cpus, 1);
  EXPECT_FALSE(self.source.empty());
}

}  // namespace
}  // namespace stylizer
