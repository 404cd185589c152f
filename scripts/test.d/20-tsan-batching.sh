#!/usr/bin/env bash
# Runs the job queue's unit and stress tests under ThreadSanitizer: a clang
# build of just server/batching and its tests (no LibTorch) in its own build
# directory, with the shim that makes the system Abseil's Mutex visible to
# ThreadSanitizer (server/batching/testing/tsan_absl_mutex.cc). Any race
# report or test failure fails the suite. A few minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/../.."
TSAN_BUILD_DIR=${TSAN_BUILD_DIR:-build-tsan}
CC_BIN=$(command -v clang || command -v clang-14)
CXX_BIN=$(command -v clang++ || command -v clang++-14)
flags="-fsanitize=thread -fno-omit-frame-pointer -g -O1"
mkdir -p "$TSAN_BUILD_DIR"
CC=$CC_BIN CXX=$CXX_BIN cmake -S . -B "$TSAN_BUILD_DIR" -G Ninja \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_C_FLAGS="$flags" -DCMAKE_CXX_FLAGS="$flags" \
  -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=thread" \
  -DSTYLIZER_WITH_TORCH=OFF -DSTYLIZER_BUILD_BENCH=OFF \
  -DSTYLIZER_TSAN_ABSL_SHIM=ON \
  >"$TSAN_BUILD_DIR/configure.log" 2>&1 ||
  { cat "$TSAN_BUILD_DIR/configure.log"; exit 1; }
tests=(fake_clock_test job_queue_test job_queue_order_test job_queue_failure_test
       job_queue_admission_test job_queue_stress_test)
cmake --build "$TSAN_BUILD_DIR" -j "${JOBS:-2}" --target "${tests[@]}"
export TSAN_OPTIONS="halt_on_error=1 abort_on_error=0 exitcode=66 second_deadlock_stack=1"
for t in "${tests[@]}"; do
  repeat=1
  [ "$t" = job_queue_stress_test ] && repeat=3
  echo "== tsan: $t x$repeat"
  "$TSAN_BUILD_DIR/server/batching/$t" --gtest_repeat=$repeat --gtest_brief=1
done
echo "tsan-batching: no races"
