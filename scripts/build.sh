#!/usr/bin/env bash
# Configures and builds stylizer (Release) into ${BUILD_DIR:-build}.
# Extra arguments go to CMake's configure step. TARGETS (space-separated)
# builds only those; JOBS defaults to the cores, fewer where memory is short
# (a LibTorch file takes about 2 GB to compile).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/ccache-env.sh
BUILD_DIR=${BUILD_DIR:-build}
source scripts/lib/build_jobs.sh
JOBS=${JOBS:-$(build_jobs)}
if [ ! -f "$BUILD_DIR/build.ninja" ] || [ $# -gt 0 ]; then
  cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release "$@"
fi
targets=()
for t in ${TARGETS:-}; do targets+=(--target "$t"); done
cmake --build "$BUILD_DIR" -j "$JOBS" "${targets[@]}"
