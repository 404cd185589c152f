#!/usr/bin/env bash
# Fetches the CUDA build of LibTorch that stylizer's GPU build compiles against:
# the PyPI torch wheel (pinned, the version of the GPU machines and of
# docker/Dockerfile.cuda) plus the four NVIDIA wheels whose libraries a CUDA
# runtime image lacks (cuSPARSELt, NVSHMEM, cuFile, and CUPTI, which
# libtorch_cpu links: only NVIDIA's devel images have it), unpacked with
# `pip install --target` into one cache folder. Everything else LibTorch
# loads (cudart, cuBLAS, cuDNN, NCCL, ...) comes from the CUDA 13 toolkit, or
# the runtime base in the image (docker/check-cuda-runtime.sh checks which).
# Idempotent: a complete install of the same wheels is only checked. Prints
# the LibTorch root (the folder to pass as -DSTYLIZER_TORCH_ROOT=...) on its
# last line.
#   scripts/install-torch-wheel.sh [--print-root]
# Environment: STYLIZER_CACHE_DIR (default ~/.cache/stylizer), PYTHON (a
# CPython 3.9-3.13 whose pip fetches the wheels; default python3),
# TORCH_WHEEL (a torch wheel file to use instead of PyPI's, fetched from a
# mirror: the NVIDIA wheels still come from pip's index, PIP_INDEX_URL),
# TORCH_WHEEL_SHA256 (when set, the torch wheel used, given or downloaded,
# must have this SHA-256).
set -euo pipefail

TORCH_VERSION=2.11.0
# The versions torch 2.11.0's metadata pins (cuda-toolkit 13.0.2 extras).
EXTRA_WHEELS=(
  nvidia-cusparselt-cu13==0.8.0
  nvidia-nvshmem-cu13==3.4.5
  "nvidia-cufile==1.15.1.6.*"
  "nvidia-cuda-cupti==13.0.85.*"
)
cache=${STYLIZER_CACHE_DIR:-$HOME/.cache/stylizer}
prefix="$cache/torch-$TORCH_VERSION"
root="$prefix/torch"
python=${PYTHON:-python3}

if [[ ${1:-} == --print-root ]]; then
  echo "$root"
  exit 0
fi
# The marker names the wheels: an install from another list is redone.
complete_marker="torch==$TORCH_VERSION ${EXTRA_WHEELS[*]}"
if [[ -f $prefix/.complete && $(<"$prefix/.complete") == "$complete_marker" ]]; then
  echo "install-torch-wheel: torch $TORCH_VERSION present in $prefix" >&2
  echo "$root"
  exit 0
fi
# One wheel folder per torch version and Python: the globs below then match
# exactly the pinned wheels (a folder shared across versions or Pythons gave
# pip two of a package).
pytag=$("$python" -c 'import sys; print(f"cp{sys.version_info[0]}{sys.version_info[1]}")')
wheels_dir="$cache/wheels/torch-$TORCH_VERSION-$pytag"
mkdir -p "$wheels_dir"
start=$(date +%s)
shopt -s nullglob
check_sha256() {  # the torch wheel against TORCH_WHEEL_SHA256, if set
  [[ -z ${TORCH_WHEEL_SHA256:-} ]] && return 0
  echo "$TORCH_WHEEL_SHA256  $1" | sha256sum --quiet -c - ||
    { echo "install-torch-wheel: $1 does not have the SHA-256 $TORCH_WHEEL_SHA256" >&2; exit 1; }
}
fetch=("${EXTRA_WHEELS[@]}")
if [[ -n ${TORCH_WHEEL:-} ]]; then
  name=$(basename "$TORCH_WHEEL")
  [[ $name == torch-"$TORCH_VERSION"-*.whl ]] ||
    { echo "install-torch-wheel: TORCH_WHEEL=$TORCH_WHEEL is not named as a torch $TORCH_VERSION wheel (torch-$TORCH_VERSION-*.whl)" >&2; exit 1; }
  check_sha256 "$TORCH_WHEEL"
  rm -f "$wheels_dir"/torch-*.whl
  cp "$TORCH_WHEEL" "$wheels_dir/$name"
else
  fetch=("torch==$TORCH_VERSION" "${fetch[@]}")
fi
# The wheels only: torch's Python dependencies are not needed to link.
"$python" -m pip download --quiet --no-deps --only-binary=:all: \
  --dest "$wheels_dir" "${fetch[@]}"
torch_wheels=("$wheels_dir"/torch-"$TORCH_VERSION"-*.whl)
[[ ${#torch_wheels[@]} -eq 1 ]] ||
  { echo "install-torch-wheel: expected one torch wheel in $wheels_dir, found ${#torch_wheels[@]}" >&2; exit 1; }
check_sha256 "${torch_wheels[0]}"
tmp="$prefix.partial"
rm -rf "$tmp"
wheels=("${torch_wheels[0]}"
        "$wheels_dir"/nvidia_cusparselt_cu13-*.whl
        "$wheels_dir"/nvidia_nvshmem_cu13-*.whl
        "$wheels_dir"/nvidia_cufile-*.whl
        "$wheels_dir"/nvidia_cuda_cupti-*.whl)
"$python" -m pip install --quiet --no-deps --no-index --no-compile --root-user-action=ignore \
  --target "$tmp" "${wheels[@]}"
[[ -f $tmp/torch/share/cmake/Torch/TorchConfig.cmake ]] ||
  { echo "install-torch-wheel: no TorchConfig.cmake in the wheel" >&2; exit 1; }
rm -rf "$prefix"
mv "$tmp" "$prefix"
echo "$complete_marker" > "$prefix/.complete"
echo "install-torch-wheel: torch $TORCH_VERSION in $prefix ($(du -sh "$prefix" | cut -f1), $(( $(date +%s) - start )) s)" >&2
echo "$root"
