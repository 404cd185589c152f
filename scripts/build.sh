#!/usr/bin/env bash
# Configures and builds stylizer (Release) into ${BUILD_DIR:-build}.
# Extra arguments go to CMake's configure step. TARGETS (space-separated)
# builds only those; JOBS defaults to the cores, fewer where memory is short
# (a LibTorch file takes about 2 GB to compile).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/ccache-env.sh
BUILD_DIR=${BUILD_DIR:-build}
if [ -z "${JOBS:-}" ]; then
  JOBS=$(nproc)
  avail_kb=$(awk '/^MemAvailable:/ {print $2}' /proc/meminfo 2>/dev/null || echo 0)
  by_memory=$(( avail_kb / (2 * 1024 * 1024) ))
  if [ "$by_memory" -ge 1 ] && [ "$by_memory" -lt "$JOBS" ]; then JOBS=$by_memory; fi
fi
if [ ! -f "$BUILD_DIR/build.ninja" ] || [ $# -gt 0 ]; then
  cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release "$@"
fi
targets=()
for t in ${TARGETS:-}; do targets+=(--target "$t"); done
cmake --build "$BUILD_DIR" -j "$JOBS" "${targets[@]}"
