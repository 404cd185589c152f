#!/usr/bin/env bash
# Rehearses the GPU machine's one call on the CPU, so that it keeps working
# for the session that is lent a GPU: stages the bundle from the CUDA build
# of 60-cuda-build.sh (scripts/gpu-bundle.sh) and runs the bundle's
# gpu-check.sh --device cpu at tiny sizes, then checks what it wrote: its 8
# files, every library resolved, the model rows of each precision and the
# variant row with the plain runtime's output, and the end-to-end job with
# all 8 styles and its ratio to model only. About 2 minutes on 2 cores
# (most of it compressing the bundle's libraries).
# Environment: CUDA_BUILD_DIR (default build-cuda).
set -euo pipefail
cd "$(dirname "$0")/../.."
CUDA_BUILD_DIR=${CUDA_BUILD_DIR:-build-cuda}
fail() { echo "61-gpu-check-rehearsal: $*" >&2; exit 1; }
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
bundle=$scratch/bundle results=$scratch/results
scripts/gpu-bundle.sh --build "$CUDA_BUILD_DIR" --out "$bundle"
torch_root=$(sed -n 's/^STYLIZER_TORCH_ROOT:PATH=//p' "$CUDA_BUILD_DIR/CMakeCache.txt")
# An ldd that writes its version in pieces, as glibc's (a shell script) may:
# a reader that stops after the first line must not end the run (it once
# did, now and then, with nothing printed).
mkdir "$scratch/shims"
real_ldd=$(command -v ldd)
cat >"$scratch/shims/ldd" <<EOF
#!/usr/bin/env bash
if [[ \$1 == --version ]]; then
  echo "ldd (rehearsal) 1.0"; sleep 0.2; echo "Copyright line"; echo "Written by"
  exit 0
fi
exec "$real_ldd" "\$@"
EOF
chmod +x "$scratch/shims/ldd"
PATH="$scratch/shims:$PATH" "$bundle/gpu-check.sh" --device cpu --torch-root "$torch_root" --out "$results" \
  --sizes 64x48 --batches 1,2 --min-seconds 0 --clip-size 64x48 --clip-seconds 1 \
  --max-batch 2 --variants channels_last+cuda_graphs --variant-batches 2 ||
  fail "gpu-check.sh failed"
files=$(ls "$results" | wc -l)
(( files == 8 )) || fail "gpu-check.sh wrote $files files, not 8: $(ls "$results")"
[[ ! -d $bundle/lib ]] || fail "gpu-check.sh unpacked the libraries into the bundle"
! grep -q "not found" "$results/ldd.txt" || fail "unresolved libraries: $(grep "not found" "$results/ldd.txt")"
for p in fp32 bf16; do
  grep -q "^| $p | plain | 64x48 | 2 |" "$results/model.md" || fail "no $p model row: $(cat "$results/model.md")"
done
grep -q "^| fp32 | channels_last+cuda_graphs | 64x48 | 2 | .* | 0 |$" "$results/model.md" ||
  fail "the variant row is missing or differs from the plain runtime: $(cat "$results/model.md")"
grep -q "(30 frames), 8 styles" "$results/e2e.txt" ||
  fail "the end-to-end job did not make 8 styles: $(head -3 "$results/e2e.txt")"
grep -q "^against model only at 64x48 in [a-z0-9]* (best: batch [0-9]*, [0-9.]* frames/s): [0-9.]*$" \
  "$results/e2e.txt" || fail "no end-to-end ratio: $(head -5 "$results/e2e.txt")"
grep -q "^model (per batch): " "$results/e2e.txt" || fail "no split from the server's metrics: $(head -8 "$results/e2e.txt")"
echo "61-gpu-check-rehearsal: $(sed -n 4p "$results/e2e.txt")"
