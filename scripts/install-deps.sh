#!/usr/bin/env bash
# Installs every build, test and run dependency of stylizer from Debian 12 packages.
# Idempotent: when everything is present it only checks and returns.
set -euo pipefail

PACKAGES=(
  # toolchain
  build-essential cmake ninja-build pkg-config git clang libclang-rt-14-dev ccache
  # llvm-symbolizer: sanitizer and fuzzer reports name functions (and the
  # leak suppressions, which match function names, can apply)
  llvm
  # model runtime and exporter/trainer
  libtorch-dev python3-torch python3-numpy
  # RPC
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler libabsl-dev
  # TLS files checked before a reload (server/service/tls_files.h)
  libssl-dev
  # metrics
  prometheus-cpp-dev prometheus
  # media
  libavcodec-dev libavformat-dev libavutil-dev libswscale-dev libswresample-dev ffmpeg
  # tests and benchmarks
  libgtest-dev libgmock-dev libbenchmark-dev zlib1g-dev openssl curl python3-skimage python3-yaml
  # the GPU bundle packs its libraries with xz (scripts/gpu-bundle.sh)
  xz-utils
  # the deployment checks' PyPI tools live in a venv (scripts/install-pytools.sh);
  # pip fetches the pinned CUDA LibTorch wheel (scripts/install-torch-wheel.sh)
  python3-venv python3-pip
  # hostile-client tests and the soak benchmark: a Python gRPC client
  python3-grpcio python3-grpc-tools python3-protobuf
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} packages present"
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: missing packages: ${missing[*]}" >&2
  echo "install-deps: run as root (or: sudo apt-get install ${missing[*]})" >&2
  exit 1
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
