#!/usr/bin/env bash
# Fuzzes the movie path for a short while: builds tests/fuzz/media_fuzzer
# (spool -> demux -> decode -> RGB) and tests/fuzz/movie_path_fuzzer (the same,
# then encode + mux with the audio copied or transcoded) with clang, libFuzzer
# and AddressSanitizer (+ LeakSanitizer) in their own build directory, makes a
# seed corpus of tiny movies with the ffmpeg tool, and runs each target for
# FUZZ_SECONDS (default 60). Any crash, leak or sanitizer report fails the
# suite.
set -euo pipefail
cd "$(dirname "$0")/../.."
export FUZZ_BUILD_DIR=${FUZZ_BUILD_DIR:-build-fuzz}
FUZZ_SECONDS=${FUZZ_SECONDS:-60}
# A fixed seed and a corpus made afresh from the seeds: a CI run replays the
# mutations an earlier run checked (a random seed, or the corpus an earlier
# run grew, could find a new bug in any run and fail an unrelated change).
# FUZZ_SEED=0 lets libFuzzer pick one, for exploring.
FUZZ_SEED=${FUZZ_SEED:-1}
tests/fuzz/build.sh media_fuzzer movie_path_fuzzer
seeds="$FUZZ_BUILD_DIR/media_seeds"
rm -rf "$seeds"
tests/fuzz/make_corpus.sh "$seeds"
# Inputs that once crashed a target, each replayed 100 times in one process
# first: the one in tests/fuzz/regressions crashed only once the heap's layout
# put the end of a frame's pixels at the end of a mapped page (after about 17
# runs), so a single run would not catch its return.
regressions=(tests/fuzz/regressions/movie_path-*)
if [ -e "${regressions[0]}" ]; then
  replay=()
  for input in "${regressions[@]}"; do
    for _ in $(seq 100); do replay+=("$input"); done
  done
  echo "movie_path_fuzzer: replaying ${#regressions[@]} regression input(s) x100"
  ASAN_OPTIONS=detect_leaks=0:allocator_may_return_null=1 \
    "$FUZZ_BUILD_DIR/tests/fuzz/movie_path_fuzzer" "${replay[@]}" 2>&1 |
    grep -v '^Executed\|^Running' | tail -n 25
fi
for target in media_fuzzer movie_path_fuzzer; do
  corpus="$FUZZ_BUILD_DIR/${target}_corpus"
  rm -rf "$corpus"
  mkdir -p "$corpus"
  echo "$target: $(ls "$seeds" | wc -l) seeds, ${FUZZ_SECONDS}s"
  # fast_unwind_on_malloc=0: FFmpeg's libraries have no frame pointers, so
  # only the slow unwinder sees which FFmpeg call made an allocation, and the
  # suppressions (tests/fuzz/lsan.supp) can match it.
  ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1:fast_unwind_on_malloc=0 \
    LSAN_OPTIONS=suppressions=tests/fuzz/lsan.supp \
    "$FUZZ_BUILD_DIR/tests/fuzz/$target" "$corpus" "$seeds" \
    -max_total_time="$FUZZ_SECONDS" -seed="$FUZZ_SEED" -timeout=20 -rss_limit_mb=2560 \
    -max_len=65536 -print_final_stats=1 \
    -artifact_prefix="$FUZZ_BUILD_DIR/$target-" 2>&1 | tail -n 25
  # (pipefail: the fuzzer's exit status decides)
done
