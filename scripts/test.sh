#!/usr/bin/env bash
# Runs the whole stylizer test suite on a fresh Debian 12 machine: installs the
# dependencies, builds, runs every CTest test, then each extra suite in
# scripts/test.d/ (sanitizer builds, fuzz smoke runs, manifest checks).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
# Every build of the suite (main, sanitizers, fuzzers, CUDA) goes through
# ccache, keyed on paths relative to the checkout, so a later run, in any
# clone, rebuilds only what changed.
source scripts/ccache-env.sh
./scripts/build.sh
ctest --test-dir "${BUILD_DIR:-build}" --output-on-failure -j "${CTEST_JOBS:-2}"
for suite in scripts/test.d/*.sh; do
  [ -e "$suite" ] || continue
  echo "== $suite"
  bash "$suite"
done
echo "all suites passed"
