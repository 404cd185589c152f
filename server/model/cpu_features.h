// What the CPU can run natively in low precision, for the runtime's choice of
// precision candidates. Free of LibTorch; the detection is injectable (tests
// describe an AVX2-only machine on any host).
#ifndef STYLIZER_SERVER_MODEL_CPU_FEATURES_H_
#define STYLIZER_SERVER_MODEL_CPU_FEATURES_H_

#include <string>

namespace stylizer {

struct CpuFeatures {
  // Instruction sets the CPU has and the OS has enabled (XSAVE state).
  bool avx512_bf16 = false;
  bool amx_bf16 = false;
  bool avx512_fp16 = false;
  bool amx_fp16 = false;
  // ONEDNN_MAX_CPU_ISA (or DNNL_MAX_CPU_ISA) when set: oneDNN uses nothing
  // above it, so a limit below the bf16/fp16 instruction sets disables them.
  std::string onednn_isa_limit;

  // bf16 convolutions in hardware (AVX512-BF16 or AMX-BF16, allowed by the
  // oneDNN limit). Without them bf16 is emulated, far slower than fp32.
  bool NativeBf16() const;
  // fp16 convolutions in hardware (AVX512-FP16 or AMX-FP16).
  bool NativeFp16() const;
  // E.g. "avx512_bf16 amx_bf16 avx512_fp16" or "no avx512_bf16/amx_bf16/
  // avx512_fp16/amx_fp16"; with ", oneDNN limited to AVX2" when limited.
  std::string Describe() const;
};

// Reads CPUID, XGETBV and the oneDNN ISA limit of this process.
CpuFeatures DetectCpuFeatures();

}  // namespace stylizer

#endif  // STYLIZER_SERVER_MODEL_CPU_FEATURES_H_
