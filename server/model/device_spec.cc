// --device and --precision words; see device_spec.h.
#include "server/model/device_spec.h"

#include <string>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace stylizer {

absl::StatusOr<DeviceSpec> ParseDeviceSpec(absl::string_view spec) {
  const std::string s = absl::AsciiStrToLower(spec);
  DeviceSpec parsed;
  if (s == "auto") return parsed;
  if (s == "cpu") {
    parsed.kind = DeviceSpec::Kind::kCpu;
    return parsed;
  }
  if (s == "cuda") {
    parsed.kind = DeviceSpec::Kind::kCuda;
    return parsed;
  }
  if (absl::StartsWith(s, "cuda:")) {
    const absl::string_view digits = absl::string_view(s).substr(5);
    // SimpleAtoi alone would also take " 1" and "+1".
    const bool all_digits =
        !digits.empty() &&
        digits.find_first_not_of("0123456789") == absl::string_view::npos;
    if (all_digits && absl::SimpleAtoi(digits, &parsed.index)) {
      parsed.kind = DeviceSpec::Kind::kCuda;
      return parsed;
    }
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "device \"", spec, "\" is not auto, cpu, cuda or cuda:N (N from 0)"));
}

absl::StatusOr<PrecisionRequest> ParsePrecisionRequest(
    absl::string_view request) {
  const std::string p = absl::AsciiStrToLower(request);
  if (p == "auto") return PrecisionRequest::kAuto;
  if (p == "fp32") return PrecisionRequest::kFp32;
  if (p == "fp16") return PrecisionRequest::kFp16;
  if (p == "bf16") return PrecisionRequest::kBf16;
  return absl::InvalidArgumentError(absl::StrCat(
      "precision \"", request, "\" is not auto, fp32, bf16 or fp16"));
}

}  // namespace stylizer
