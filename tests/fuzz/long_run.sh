#!/usr/bin/env bash
# A long fuzzing run of one movie target, for the record in
# docs/performance.md, not for CI: runs TARGET (media_fuzzer or
# movie_path_fuzzer, already built by scripts/test.d/30-fuzz-media.sh in
# FUZZ_BUILD_DIR) for RUNS executions (default 1 M) or MAX_SECONDS, whichever
# comes first, from that script's seeds and corpus.
#
# Unlike CI's short runs, leak checks are off and ASan unwinds with frame
# pointers: the slow unwinder that the FFmpeg leak suppression needs makes a
# movie target 2-3x slower, which puts 1 M executions out of reach on two
# cores. Crashes, hangs (-timeout), memory blow-ups (-rss_limit_mb) and every
# ASan error other than a leak still stop the run; CI's runs keep checking
# leaks.
#   usage: tests/fuzz/long_run.sh TARGET [RUNS]
#   env:   FUZZ_BUILD_DIR (default build-fuzz), FUZZ_SEED (default 1),
#          MAX_SECONDS (default 14400)
set -euo pipefail
cd "$(dirname "$0")/../.."
target=${1:?usage: tests/fuzz/long_run.sh TARGET [RUNS]}
runs=${2:-1000000}
FUZZ_BUILD_DIR=${FUZZ_BUILD_DIR:-build-fuzz}
corpus="$FUZZ_BUILD_DIR/${target}_corpus"
seeds="$FUZZ_BUILD_DIR/media_seeds"
[ -x "$FUZZ_BUILD_DIR/tests/fuzz/$target" ] || {
  echo "build $target first: scripts/test.d/30-fuzz-media.sh" >&2
  exit 2
}
mkdir -p "$corpus"
ASAN_OPTIONS=detect_leaks=0:allocator_may_return_null=1:fast_unwind_on_malloc=1 \
  "$FUZZ_BUILD_DIR/tests/fuzz/$target" "$corpus" "$seeds" \
  -runs="$runs" -max_total_time="${MAX_SECONDS:-14400}" \
  -seed="${FUZZ_SEED:-1}" -timeout=20 -rss_limit_mb=2560 -max_len=65536 \
  -print_final_stats=1 -artifact_prefix="$FUZZ_BUILD_DIR/$target-"
