// Tests of the CPU tensor cache: large blocks are reused, small ones and
// blocks beyond the limit are not cached, memory is aligned and usable.
#include "server/model/cpu_tensor_cache.h"

#include <torch/torch.h>

#include <cstdint>

#include "gtest/gtest.h"

namespace stylizer {
namespace {

TEST(CpuTensorCacheTest, ReusesLargeBlocks) {
  InstallCpuTensorCache(size_t{64} << 20);
  const CpuTensorCacheStats before = GetCpuTensorCacheStats();
  { torch::Tensor a = torch::ones({4 << 20}); }  // 16 MiB, freed
  const CpuTensorCacheStats freed = GetCpuTensorCacheStats();
  EXPECT_EQ(freed.misses, before.misses + 1);
  EXPECT_GE(freed.cached_bytes, size_t{16} << 20);
  torch::Tensor b = torch::full({4 << 20}, 2.0f);
  const CpuTensorCacheStats reused = GetCpuTensorCacheStats();
  EXPECT_EQ(reused.hits, freed.hits + 1);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(b.data_ptr()) % 64, 0u);
  EXPECT_EQ(b.sum().item<float>(), 2.0f * (4 << 20));
}

TEST(CpuTensorCacheTest, SmallAndOversizedBlocksAreNotCached) {
  InstallCpuTensorCache(size_t{64} << 20);
  const CpuTensorCacheStats before = GetCpuTensorCacheStats();
  { torch::Tensor small = torch::ones({1000}); }
  { torch::Tensor huge = torch::ones({32 << 20}); }  // 128 MiB > limit
  const CpuTensorCacheStats after = GetCpuTensorCacheStats();
  EXPECT_EQ(after.hits + after.misses, before.hits + before.misses + 1);
  EXPECT_LE(after.cached_bytes, size_t{64} << 20);
}

}  // namespace
}  // namespace stylizer
