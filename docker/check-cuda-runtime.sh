#!/usr/bin/env bash
# Checks that binaries built against the CUDA LibTorch will find every shared
# library in the CUDA image's runtime stage, on a machine that has the whole
# CUDA toolkit (the build stage, CI): a library that `ldd` resolves from the
# toolkit must be one the NVIDIA CUDA + cuDNN runtime base provides (listed
# below) or the driver's, which the container runtime mounts. Anything else
# (CUPTI, say: only NVIDIA's devel images have it) has to come with LibTorch's
# NVIDIA wheels (scripts/install-torch-wheel.sh) or it is missing at start.
#   docker/check-cuda-runtime.sh [--cuda-home DIR] BINARY...
set -euo pipefail

cuda_home=/usr/local/cuda
if [[ ${1:-} == --cuda-home ]]; then
  cuda_home=$2
  shift 2
fi
[[ $# -gt 0 ]] || { echo "usage: $0 [--cuda-home DIR] BINARY..." >&2; exit 2; }

# What nvidia/cuda:13.0.*-cudnn-runtime-ubuntu24.04 installs (cuda-libraries,
# libcublas, libcusparse, libnpp, libnccl2, cuDNN), by soname prefix.
runtime_base_has() {
  case $1 in
    libcudart.so* | libcublas.so* | libcublasLt.so* | libcufft.so* | libcurand.so* | \
      libcusolver.so* | libcusparse.so* | libnvrtc.so* | libnvrtc-builtins.so* | \
      libnvJitLink.so* | libnpp*.so* | libnvjpeg.so* | libnccl.so* | libcudnn*.so*) return 0 ;;
  esac
  return 1
}
# The driver's libraries: never in an image, mounted by the container runtime.
from_driver() {
  case $1 in libcuda.so* | libnvidia-*.so*) return 0 ;; esac
  return 1
}

toolkit_dirs=("$(readlink -f "$cuda_home")")
for dir in /usr/local/cuda-*; do
  [[ -d $dir ]] && toolkit_dirs+=("$(readlink -f "$dir")")
done
in_toolkit() {
  local real dir
  real=$(readlink -f "$1")
  for dir in "${toolkit_dirs[@]}"; do
    [[ $real == "$dir"/* ]] && return 0
  done
  return 1
}

problems=0
for binary in "$@"; do
  # ldd fails for a missing file or a script: that is no check passed.
  deps=$(ldd "$binary") || { echo "check-cuda-runtime: ldd cannot read $binary" >&2; exit 1; }
  while read -r name arrow path _; do
    [[ $arrow == "=>" ]] || continue
    if [[ $path == not ]]; then
      from_driver "$name" && continue
      echo "check-cuda-runtime: $binary: $name is not found" >&2
      problems=$((problems + 1))
    elif in_toolkit "$path" && ! runtime_base_has "$name" && ! from_driver "$name"; then
      echo "check-cuda-runtime: $binary: $name comes from the CUDA toolkit ($path), which the runtime image does not have" >&2
      problems=$((problems + 1))
    fi
  done <<<"$deps"
done
if ((problems > 0)); then
  echo "check-cuda-runtime: $problems libraries would be missing in the CUDA image; add the NVIDIA wheel that ships each to scripts/install-torch-wheel.sh" >&2
  exit 1
fi
echo "check-cuda-runtime: every library of $* is in LibTorch's folders, the runtime base or the driver"
