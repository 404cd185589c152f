// CpuTensorCache: size-keyed free lists of blocks from c10::alloc_cpu (64-byte
// aligned) behind c10::SetCPUAllocator. Builds against LibTorch 1.13 and 2.x
// (2.x made allocate() non-const and added copy_data()).
#include "server/model/cpu_tensor_cache.h"

#include <c10/core/CPUAllocator.h>
#include <c10/core/impl/alloc_cpu.h>
#include <c10/util/Exception.h>
#include <torch/version.h>

#include <iterator>
#include <map>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace stylizer {
namespace {

constexpr size_t kMinCachedBytes = size_t{1} << 20;
constexpr size_t kGranule = size_t{1} << 16;  // sizes rounded up to 64 KiB

#if TORCH_VERSION_MAJOR >= 2
#define STYLIZER_ALLOCATE_CONST
#else
#define STYLIZER_ALLOCATE_CONST const
#endif

class CpuTensorCache final : public c10::Allocator {
 public:
  explicit CpuTensorCache(c10::Allocator* fallback) : fallback_(fallback) {}

  c10::DataPtr allocate(size_t n) STYLIZER_ALLOCATE_CONST override {
    if (n < kMinCachedBytes) return fallback_->allocate(n);
    const size_t size = (n + kGranule - 1) / kGranule * kGranule;
    void* block = nullptr;
    {
      absl::MutexLock lock(&mu_);
      // Best fit, but never more than twice the request.
      auto it = free_.lower_bound(size);
      if (it != free_.end() && it->first <= 2 * size) {
        block = it->second.block;
        cached_bytes_ -= it->first;
        sizes_[block] = it->first;
        free_.erase(it);
        ++hits_;
      } else {
        ++misses_;
      }
    }
    if (block == nullptr) {
      try {
        block = c10::alloc_cpu(size);
      } catch (const c10::Error&) {
        Trim(0);  // give the idle blocks back and try once more (may throw)
        block = c10::alloc_cpu(size);
      }
      absl::MutexLock lock(&mu_);
      sizes_[block] = size;
    }
    return {block, block, &Release, c10::Device(c10::DeviceType::CPU)};
  }

  // Blocks are their own context, so raw_allocate/raw_deallocate (used by
  // oneDNN conversions) work too.
  c10::DeleterFnPtr raw_deleter() const override { return &Release; }

#if TORCH_VERSION_MAJOR >= 2
  void copy_data(void* dest, const void* src,
                 std::size_t count) const override {
    default_copy_data(dest, src, count);
  }
#endif

  void SetLimit(size_t max_cached_bytes) {
    absl::MutexLock lock(&mu_);
    if (max_cached_bytes > limit_) limit_ = max_cached_bytes;
  }

  CpuTensorCacheStats Stats() const {
    absl::MutexLock lock(&mu_);
    return {hits_, misses_, cached_bytes_};
  }

  static CpuTensorCache* instance;

 private:
  struct Free {
    void* block;
  };

  static void Release(void* block) { instance->Put(block); }

  void Put(void* block) const {
    absl::MutexLock lock(&mu_);
    auto it = sizes_.find(block);
    if (it == sizes_.end()) {  // a small block from the fallback allocator
      fallback_->raw_deallocate(block);
      return;
    }
    const size_t size = it->second;
    sizes_.erase(it);
    if (cached_bytes_ + size > limit_) {
      c10::free_cpu(block);
      return;
    }
    free_.insert({size, Free{block}});
    cached_bytes_ += size;
  }

  // Frees idle blocks until at most `keep` bytes stay cached.
  void Trim(size_t keep) const {
    absl::MutexLock lock(&mu_);
    while (cached_bytes_ > keep && !free_.empty()) {
      auto it = std::prev(free_.end());
      c10::free_cpu(it->second.block);
      cached_bytes_ -= it->first;
      free_.erase(it);
    }
  }

  c10::Allocator* const fallback_;
  mutable absl::Mutex mu_;
  mutable std::multimap<size_t, Free> free_ ABSL_GUARDED_BY(mu_);
  mutable std::map<void*, size_t> sizes_ ABSL_GUARDED_BY(mu_);  // live blocks
  mutable size_t cached_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  mutable size_t hits_ ABSL_GUARDED_BY(mu_) = 0;
  mutable size_t misses_ ABSL_GUARDED_BY(mu_) = 0;
  size_t limit_ ABSL_GUARDED_BY(mu_) = 0;
};

CpuTensorCache* CpuTensorCache::instance = nullptr;
absl::Mutex install_mu;

}  // namespace

void InstallCpuTensorCache(size_t max_cached_bytes) {
  absl::MutexLock lock(&install_mu);
  if (CpuTensorCache::instance == nullptr) {
    // Never destroyed: tensors may outlive every other object.
    CpuTensorCache::instance =
        new CpuTensorCache(c10::GetDefaultCPUAllocator());
    c10::SetCPUAllocator(CpuTensorCache::instance, /*priority=*/1);
  }
  CpuTensorCache::instance->SetLimit(max_cached_bytes);
}

CpuTensorCacheStats GetCpuTensorCacheStats() {
  absl::MutexLock lock(&install_mu);
  if (CpuTensorCache::instance == nullptr) return {};
  return CpuTensorCache::instance->Stats();
}

}  // namespace stylizer
