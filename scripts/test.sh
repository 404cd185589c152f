#!/usr/bin/env bash
# Runs the whole stylizer test suite on a fresh Debian 12 machine: installs the
# dependencies, builds, runs every CTest test, then each extra suite in
# scripts/test.d/ (sanitizer builds, fuzz smoke runs, manifest checks).
set -euo pipefail
cd "$(dirname "$0")/.."
# The CUDA suites (60, 61) need the CUDA 13 toolkit, which neither Debian nor
# PyPI provides as a toolkit: say so now rather than after 20 minutes of the
# other suites. STYLIZER_SKIP_CUDA=1 leaves them out on a machine without it.
if [[ ${STYLIZER_SKIP_CUDA:-0} != 1 && ! -x ${CUDA_HOME:-/usr/local/cuda}/bin/nvcc ]]; then
  echo "test.sh: no CUDA toolkit at ${CUDA_HOME:-/usr/local/cuda} (nvcc): install CUDA 13" \
    "with cuDNN 9 (set CUDA_HOME if elsewhere), or run with STYLIZER_SKIP_CUDA=1 to leave" \
    "out the CUDA build suites" >&2
  exit 1
fi
./scripts/install-deps.sh
# Every build of the suite (main, sanitizers, fuzzers, CUDA) goes through
# ccache, keyed on paths relative to the checkout, so a later run, in any
# clone, rebuilds only what changed.
source scripts/ccache-env.sh
./scripts/build.sh
# --no-tests=error: a build configured without tests must not pass.
ctest --test-dir "${BUILD_DIR:-build}" --output-on-failure --no-tests=error -j "${CTEST_JOBS:-2}"
# A GoogleTest case that skips itself (no tmpfs to fill, say) passes in CTest:
# name them, so that a run which could not check something says so.
skipped=$(grep -hoE '^\[  SKIPPED \] [A-Za-z0-9_/]+\.[A-Za-z0-9_/]+' \
  "${BUILD_DIR:-build}/Testing/Temporary/LastTest.log" | sort -u || true)
if [[ -n $skipped ]]; then
  echo "test cases that skipped themselves (CTest counts them as passed):"
  echo "$skipped"
fi
for suite in scripts/test.d/*.sh; do
  [ -e "$suite" ] || continue
  if [[ ${STYLIZER_SKIP_CUDA:-0} == 1 && $suite == scripts/test.d/6[01]-* ]]; then
    echo "== $suite: skipped (STYLIZER_SKIP_CUDA=1)"
    continue
  fi
  echo "== $suite"
  bash "$suite"
done
echo "all suites passed"
