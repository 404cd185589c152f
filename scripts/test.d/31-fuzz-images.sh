#!/usr/bin/env bash
# Fuzzes still-image decoding (DecodeImage over PNG, JPEG and raw, then
# EncodeImage) for a short while: builds tests/fuzz/image_fuzzer with clang,
# libFuzzer and AddressSanitizer (+ LeakSanitizer) in the fuzz build
# directory, makes a seed corpus (tests/fuzz/make_image_corpus.sh), and runs
# for FUZZ_SECONDS (default 60). Any crash, leak or sanitizer report fails the
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
tests/fuzz/build.sh image_fuzzer
corpus="$FUZZ_BUILD_DIR/image_corpus"
seeds="$FUZZ_BUILD_DIR/image_seeds"
rm -rf "$seeds" "$corpus"
tests/fuzz/make_image_corpus.sh "$seeds"
mkdir -p "$corpus"
echo "image_fuzzer: $(ls "$seeds" | wc -l) seeds, ${FUZZ_SECONDS}s"
ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1 \
  LSAN_OPTIONS=suppressions=tests/fuzz/lsan.supp \
  "$FUZZ_BUILD_DIR/tests/fuzz/image_fuzzer" "$corpus" "$seeds" \
  -max_total_time="$FUZZ_SECONDS" -seed="$FUZZ_SEED" -timeout=20 -rss_limit_mb=2560 \
  -max_len=65536 -print_final_stats=1 \
  -artifact_prefix="$FUZZ_BUILD_DIR/" 2>&1 | tail -n 25
# (pipefail: the fuzzer's exit status decides)
