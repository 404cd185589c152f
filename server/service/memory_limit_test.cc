// DetectMemoryLimit on fake /proc and /sys/fs/cgroup trees: cgroup v2 and v1,
// the lowest limit along the path, "max" and v1's "unlimited", and the
// machine's memory when there is no cgroup limit.
#include "server/service/memory_limit.h"

#include <filesystem>
#include <fstream>
#include <string>

#include "gtest/gtest.h"

namespace stylizer {
namespace {

class MemoryLimitTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ =
        std::filesystem::path(::testing::TempDir()) /
        ("memory_limit_" +
         std::string(
             ::testing::UnitTest::GetInstance()->current_test_info()->name()));
    std::filesystem::remove_all(root_);
    Write("proc/meminfo",
          "MemTotal:       16384000 kB\nMemFree:         1000 kB\n");
  }
  void TearDown() override { std::filesystem::remove_all(root_); }

  void Write(const std::string& path, const std::string& text) {
    const std::filesystem::path file = root_ / path;
    std::filesystem::create_directories(file.parent_path());
    std::ofstream(file) << text;
  }
  absl::StatusOr<MemoryLimit> Detect() {
    return DetectMemoryLimit(root_.string());
  }

  std::filesystem::path root_;
};

constexpr int64_t kMachine = int64_t{16384000} * 1024;

TEST_F(MemoryLimitTest, CgroupV2MemoryMax) {
  Write("proc/self/cgroup", "0::/kubepods/pod1/ctr\n");
  Write("sys/fs/cgroup/kubepods/pod1/ctr/memory.max", "4294967296\n");
  absl::StatusOr<MemoryLimit> limit = Detect();
  ASSERT_TRUE(limit.ok()) << limit.status();
  EXPECT_EQ(limit->bytes, int64_t{4} << 30);
  EXPECT_NE(limit->source.find("ctr/memory.max"), std::string::npos);
}

TEST_F(MemoryLimitTest, CgroupV2LowestAncestorWinsAndMaxIsNoLimit) {
  Write("proc/self/cgroup", "0::/kubepods/pod1/ctr\n");
  Write("sys/fs/cgroup/kubepods/pod1/ctr/memory.max", "max\n");
  Write("sys/fs/cgroup/kubepods/pod1/memory.max", "2147483648\n");
  Write("sys/fs/cgroup/kubepods/memory.max", "8589934592\n");
  absl::StatusOr<MemoryLimit> limit = Detect();
  ASSERT_TRUE(limit.ok()) << limit.status();
  EXPECT_EQ(limit->bytes, int64_t{2} << 30);
}

TEST_F(MemoryLimitTest, CgroupNamespaceRoot) {
  // Inside a container with its own cgroup namespace the path is "/".
  Write("proc/self/cgroup", "0::/\n");
  Write("sys/fs/cgroup/memory.max", "1073741824\n");
  absl::StatusOr<MemoryLimit> limit = Detect();
  ASSERT_TRUE(limit.ok()) << limit.status();
  EXPECT_EQ(limit->bytes, int64_t{1} << 30);
}

TEST_F(MemoryLimitTest, CgroupV1LimitInBytes) {
  Write(
      "proc/self/cgroup",
      "12:cpu,cpuacct:/docker/abc\n9:memory:/docker/abc\n1:name=systemd:/x\n");
  Write("sys/fs/cgroup/memory/docker/abc/memory.limit_in_bytes",
        "3221225472\n");
  absl::StatusOr<MemoryLimit> limit = Detect();
  ASSERT_TRUE(limit.ok()) << limit.status();
  EXPECT_EQ(limit->bytes, int64_t{3} << 30);
}

TEST_F(MemoryLimitTest, UnlimitedCgroupFallsBackToTheMachine) {
  Write("proc/self/cgroup", "9:memory:/\n");
  Write("sys/fs/cgroup/memory/memory.limit_in_bytes", "9223372036854771712\n");
  absl::StatusOr<MemoryLimit> limit = Detect();
  ASSERT_TRUE(limit.ok()) << limit.status();
  EXPECT_EQ(limit->bytes, kMachine);
  EXPECT_EQ(limit->source, "/proc/meminfo");
}

TEST_F(MemoryLimitTest, LimitAboveTheMachineIsTheMachine) {
  Write("proc/self/cgroup", "0::/big\n");
  Write("sys/fs/cgroup/big/memory.max", "1099511627776\n");  // 1 TiB
  absl::StatusOr<MemoryLimit> limit = Detect();
  ASSERT_TRUE(limit.ok()) << limit.status();
  EXPECT_EQ(limit->bytes, kMachine);
}

TEST_F(MemoryLimitTest, NothingReadableIsNotFound) {
  std::filesystem::remove(root_ / "proc/meminfo");
  absl::StatusOr<MemoryLimit> limit = Detect();
  EXPECT_EQ(limit.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(DefaultMemoryBudget(limit, 80, 1000), 800);
}

TEST_F(MemoryLimitTest, DefaultBudgetIsAShareOfTheLimit) {
  Write("proc/self/cgroup", "0::/\n");
  Write("sys/fs/cgroup/memory.max", "1000000000\n");
  EXPECT_EQ(DefaultMemoryBudget(Detect(), 80, 1), 800000000);
}

TEST(MemoryLimitRealTest, ThisMachineHasALimit) {
  absl::StatusOr<MemoryLimit> limit = DetectMemoryLimit();
  ASSERT_TRUE(limit.ok()) << limit.status();
  EXPECT_GT(limit->bytes, int64_t{64} << 20);
}

}  // namespace
}  // namespace stylizer
