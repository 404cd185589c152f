#!/usr/bin/env bash
# The same code against the CUDA LibTorch: fetches the pinned PyPI torch wheel
# (scripts/install-torch-wheel.sh, cached), builds the server, the CLI, the
# model benchmark and every test against it in its own build directory
# (compiled and linked with the machine's CUDA toolkit: nvcc, cuDNN), checks
# that the server links libtorch_cuda and that the CUDA image's runtime base
# would have every library it loads, then runs the CPU test suite (ctest)
# against that build: the tests pass on Debian's LibTorch 1.13 (the main
# build) and on 2.11 (this one). No GPU is needed: the CUDA runtime is only
# used after a device check; --device=cuda must fail at start naming what is
# missing, which is checked too.
# Environment: CUDA_BUILD_DIR (default build-cuda), CUDA_HOME (default
# /usr/local/cuda), JOBS, CTEST_JOBS, CUDA_CTEST_REGEX (a subset of tests),
# CUDA_CTEST_EXCLUDE (a regex of tests left out).
#
# By default the long end-to-end suites (whole movies through the CLI, the
# hostile clients, the replica tests: about 12 minutes on 2 cores) run only
# against the main build; every unit test and every integration test of the
# server (RPCs, security, metrics with a real Prometheus, the process tests
# of the real binary) runs here too. CUDA_CTEST_EXCLUDE= runs them all.
CUDA_CTEST_EXCLUDE=${CUDA_CTEST_EXCLUDE-^(cli_e2e_.*|video_e2e_test|hostile_.*|scale_test)\$}
set -euo pipefail
cd "$(dirname "$0")/../.."
CUDA_BUILD_DIR=${CUDA_BUILD_DIR:-build-cuda}
CUDA_HOME=${CUDA_HOME:-/usr/local/cuda}
if [[ ! -x $CUDA_HOME/bin/nvcc ]]; then
  echo "60-cuda-build: no CUDA toolkit at $CUDA_HOME (nvcc); install CUDA 13 with cuDNN 9" >&2
  exit 1
fi
start=$(date +%s)
torch_root=$(scripts/install-torch-wheel.sh | tail -n 1)
launcher=()
if command -v ccache >/dev/null 2>&1; then
  launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
fi
mkdir -p "$CUDA_BUILD_DIR"
PATH="$CUDA_HOME/bin:$PATH" cmake -S . -B "$CUDA_BUILD_DIR" -G Ninja \
  -DCMAKE_BUILD_TYPE=Release "${launcher[@]}" \
  -DSTYLIZER_TORCH_ROOT="$torch_root" -DCUDAToolkit_ROOT="$CUDA_HOME" \
  >"$CUDA_BUILD_DIR/configure.log" 2>&1 ||
  { cat "$CUDA_BUILD_DIR/configure.log"; exit 1; }
grep -q "CUDA: ON" "$CUDA_BUILD_DIR/configure.log" ||
  { echo "60-cuda-build: LibTorch at $torch_root is not a CUDA build" >&2; exit 1; }
cmake --build "$CUDA_BUILD_DIR" -j "${JOBS:-2}"
configured=$(date +%s)
server="$CUDA_BUILD_DIR/server/stylizer-server"
deps=$(ldd "$server")
grep -q "libtorch_cuda.so => $torch_root" <<<"$deps" ||
  { echo "60-cuda-build: $server does not load libtorch_cuda from $torch_root" >&2; echo "$deps" >&2; exit 1; }
for bin in client/stylizer bench/model/model_bench; do
  [[ -x $CUDA_BUILD_DIR/$bin ]] || { echo "60-cuda-build: $bin not built" >&2; exit 1; }
done
# What Dockerfile.cuda checks in its build stage: nothing these binaries load
# comes from the toolkit that NVIDIA's runtime image lacks.
docker/check-cuda-runtime.sh --cuda-home "$CUDA_HOME" "$server" "$CUDA_BUILD_DIR/client/stylizer"
# Without a GPU, --device=cuda must fail at start, saying why. (With one, the
# server would start and serve: the check is left out, and a timeout stops a
# server that starts anyway.)
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
  echo "60-cuda-build: a GPU is present; the no-GPU start check is skipped"
else
  if out=$(timeout 120 "$server" --device=cuda --metrics_port=-1 --port=0 2>&1); then
    echo "60-cuda-build: the server started with --device=cuda and no GPU" >&2; exit 1
  fi
  grep -q "usable CUDA device" <<<"$out" ||
    { echo "60-cuda-build: unclear error without a GPU: $out" >&2; exit 1; }
fi
# The model bench's runtime-variant rows (what scripts/gpu-check.sh times on a
# GPU) and their comparison with the plain runtime run here too; on the CPU
# the CUDA options change nothing, so the outputs must match exactly.
bench_out=$("$CUDA_BUILD_DIR/bench/model/model_bench" --archive=models/default.pt \
  --device=cpu --precisions=fp32 --sizes=40x24 --batches=2 --threads=1 \
  --min_seconds=0 --roofline=false --channels_last --cuda_graphs 2>&1) ||
  { echo "60-cuda-build: model_bench with variants failed: $bench_out" >&2; exit 1; }
grep -q '"variant":"channels_last+cuda_graphs".*"max_level_diff":0}' <<<"$bench_out" ||
  { echo "60-cuda-build: model_bench variant row missing or different: $bench_out" >&2; exit 1; }
ctest_args=(--test-dir "$CUDA_BUILD_DIR" --output-on-failure --no-tests=error -j "${CTEST_JOBS:-2}")
[[ -n ${CUDA_CTEST_REGEX:-} ]] && ctest_args+=(-R "$CUDA_CTEST_REGEX")
[[ -n ${CUDA_CTEST_EXCLUDE:-} ]] && ctest_args+=(-E "$CUDA_CTEST_EXCLUDE")
ctest "${ctest_args[@]}"
end=$(date +%s)
echo "60-cuda-build: LibTorch $(basename "$(dirname "$torch_root")") with CUDA: built in $((configured - start)) s, tests in $((end - configured)) s"
