#!/usr/bin/env bash
# Configures the fuzz build (clang, libFuzzer, AddressSanitizer + LeakSanitizer;
# tests on so that tests/fuzz is part of it, no LibTorch, no benches) in
# FUZZ_BUILD_DIR and builds the given targets. Every fuzz script goes through
# here, so they all share one build directory and one configuration.
#   usage: tests/fuzz/build.sh TARGET...
#   env:   FUZZ_BUILD_DIR (default build-fuzz), JOBS (default 2)
set -euo pipefail
cd "$(dirname "$0")/../.."
[ $# -gt 0 ] || { echo "usage: tests/fuzz/build.sh TARGET..." >&2; exit 2; }
FUZZ_BUILD_DIR=${FUZZ_BUILD_DIR:-build-fuzz}
sanitize="-fsanitize=address,fuzzer-no-link -fno-omit-frame-pointer -g -O1"
mkdir -p "$FUZZ_BUILD_DIR"
CC=clang CXX=clang++ cmake -S . -B "$FUZZ_BUILD_DIR" -G Ninja \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_C_FLAGS="$sanitize" -DCMAKE_CXX_FLAGS="$sanitize" \
  -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=address" \
  -DSTYLIZER_FUZZ=ON -DSTYLIZER_WITH_TORCH=OFF -DSTYLIZER_BUILD_BENCH=OFF \
  >"$FUZZ_BUILD_DIR/configure.log" 2>&1 ||
  { cat "$FUZZ_BUILD_DIR/configure.log"; exit 1; }
cmake --build "$FUZZ_BUILD_DIR" -j "${JOBS:-2}" --target "$@"
