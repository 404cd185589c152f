// CpuFeatures from CPUID leaf 7 and XCR0 (the OS must save the AVX-512 and AMX
// register state, or the instructions fault).
#include "server/model/cpu_features.h"

#include <cstdint>
#include <cstdlib>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_join.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#define STYLIZER_X86 1
#endif

namespace stylizer {
namespace {

// Whether the oneDNN limit (an ISA name such as AVX2, AVX512_CORE_BF16,
// AVX512_CORE_AMX, AVX512_CORE_FP16, ALL) still allows `feature`.
bool LimitAllows(const std::string& limit, bool bf16) {
  if (limit.empty()) return true;
  const std::string isa = absl::AsciiStrToUpper(limit);
  if (isa == "ALL" || absl::StartsWith(isa, "AVX10")) return true;
  if (bf16) {
    return absl::StrContains(isa, "BF16") || absl::StrContains(isa, "AMX") ||
           absl::StrContains(isa, "FP16");
  }
  return absl::StrContains(isa, "FP16");
}

}  // namespace

bool CpuFeatures::NativeBf16() const {
  return (avx512_bf16 || amx_bf16) && LimitAllows(onednn_isa_limit, true);
}

bool CpuFeatures::NativeFp16() const {
  return (avx512_fp16 || amx_fp16) && LimitAllows(onednn_isa_limit, false);
}

std::string CpuFeatures::Describe() const {
  std::vector<std::string> have;
  if (avx512_bf16) have.push_back("avx512_bf16");
  if (amx_bf16) have.push_back("amx_bf16");
  if (avx512_fp16) have.push_back("avx512_fp16");
  if (amx_fp16) have.push_back("amx_fp16");
  std::string text = have.empty()
                         ? "no avx512_bf16/amx_bf16/avx512_fp16/amx_fp16"
                         : absl::StrJoin(have, " ");
  if (!onednn_isa_limit.empty()) {
    text += ", oneDNN limited to " + onednn_isa_limit;
  }
  return text;
}

CpuFeatures DetectCpuFeatures() {
  CpuFeatures f;
#ifdef STYLIZER_X86
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  if (__get_cpuid(1, &eax, &ebx, &ecx, &edx) &&
      (ecx & (1u << 27))) {  // OSXSAVE
    uint32_t xcr0_lo = 0, xcr0_hi = 0;
    __asm__ volatile("xgetbv" : "=a"(xcr0_lo), "=d"(xcr0_hi) : "c"(0));
    const uint64_t xcr0 = (uint64_t{xcr0_hi} << 32) | xcr0_lo;
    const bool avx512_state = (xcr0 & 0xe6) == 0xe6;  // SSE, AVX, opmask, ZMM
    // AMX tile state (bits 17, 18) is granted on request (oneDNN asks for it
    // with arch_prctl); XCR0 shows whether the OS supports it at all.
    const bool amx_state = (xcr0 & (uint64_t{3} << 17)) == (uint64_t{3} << 17);
    unsigned max_leaf = __get_cpuid_max(0, nullptr);
    if (max_leaf >= 7) {
      __cpuid_count(7, 0, eax, ebx, ecx, edx);
      const bool amx_tile = edx & (1u << 24);
      f.amx_bf16 = amx_state && amx_tile && (edx & (1u << 22));
      f.avx512_fp16 = avx512_state && (edx & (1u << 23));
      const unsigned max_subleaf = eax;
      if (max_subleaf >= 1) {
        __cpuid_count(7, 1, eax, ebx, ecx, edx);
        f.avx512_bf16 = avx512_state && (eax & (1u << 5));
        f.amx_fp16 = amx_state && amx_tile && (eax & (1u << 21));
      }
    }
  }
#endif
  for (const char* name : {"ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA"}) {
    if (const char* v = std::getenv(name); v != nullptr && *v != '\0') {
      f.onednn_isa_limit = v;
      break;
    }
  }
  return f;
}

}  // namespace stylizer
