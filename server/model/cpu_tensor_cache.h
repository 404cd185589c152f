// A caching allocator for LibTorch's large CPU tensors. Every forward pass
// allocates the same activation sizes again; from the system allocator each
// large block is a fresh mmap whose pages fault in (and are zeroed by the
// kernel) on first touch, a cost comparable to an element-wise pass. The cache
// keeps freed blocks for reuse instead. LibTorch-free header.
#ifndef STYLIZER_SERVER_MODEL_CPU_TENSOR_CACHE_H_
#define STYLIZER_SERVER_MODEL_CPU_TENSOR_CACHE_H_

#include <cstddef>

namespace stylizer {

// Installs the cache as LibTorch's CPU allocator (process-wide, once; later
// calls only raise the limit). Blocks of at least 1 MiB are cached, up to
// `max_cached_bytes` of idle memory; smaller ones go to LibTorch's default
// allocator. Thread-safe.
void InstallCpuTensorCache(size_t max_cached_bytes);

struct CpuTensorCacheStats {
  size_t hits = 0;          // allocations served from the cache
  size_t misses = 0;        // large allocations that needed new memory
  size_t cached_bytes = 0;  // idle memory held now
};

// Counters since installation (all zero when not installed).
CpuTensorCacheStats GetCpuTensorCacheStats();

}  // namespace stylizer

#endif  // STYLIZER_SERVER_MODEL_CPU_TENSOR_CACHE_H_
