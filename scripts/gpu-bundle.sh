#!/usr/bin/env bash
# Stages what a GPU machine needs to run stylizer's CUDA build, other than
# LibTorch and CUDA (the machine's pip torch provides both): the server, the
# CLI, the model benchmark, the bundled model, every other shared library
# they load (through docker/stage-runtime.sh --mode bundle) and
# scripts/gpu-check.sh, into one folder (at most 60 MiB).
#   scripts/gpu-bundle.sh [--build DIR] [--out DIR]
# Defaults: --build build-cuda (see scripts/test.d/60-cuda-build.sh), --out
# out/gpu-bundle. Layout: bin/, lib.tar.xz (lib/, with lib/compat: this
# build's libstdc++ for hosts with an older one), models/default.pt,
# gpu-check.sh, torch-version.
set -euo pipefail
build=build-cuda
out=out/gpu-bundle
while [[ $# -gt 0 ]]; do
  case "$1" in
    --build) build=$(realpath -m "$2"); shift 2 ;;
    --out) out=$(realpath -m "$2"); shift 2 ;;
    *) echo "gpu-bundle: unknown argument $1" >&2; exit 2 ;;
  esac
done
# Paths given are the caller's (resolved above), the defaults the checkout's.
cd "$(dirname "$0")/.."
# --out is emptied first: refuse a folder that holds something else than an
# earlier bundle (--out . or --out ~ would have been wiped).
if [[ -d $out && -n $(ls -A "$out") && ! -f $out/torch-version ]]; then
  echo "gpu-bundle: $out is not empty and holds no earlier bundle; name a new folder" >&2
  exit 2
fi
bins=("$build/server/stylizer-server" "$build/client/stylizer"
      "$build/bench/model/model_bench" "$build/bench/model/make_clip")
for b in "${bins[@]}"; do
  [[ -x $b ]] || { echo "gpu-bundle: $b missing; build it (scripts/test.d/60-cuda-build.sh)" >&2; exit 1; }
done
torch_root=$(sed -n 's/^STYLIZER_TORCH_ROOT:PATH=//p' "$build/CMakeCache.txt")
[[ -n $torch_root ]] || { echo "gpu-bundle: $build is not a build against a LibTorch root" >&2; exit 1; }
cuda_home=${CUDA_HOME:-/usr/local/cuda}
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
# LibTorch's folder tree (torch/lib and the nvidia wheels next to it) and the
# CUDA toolkit are not staged: the GPU machine has its own.
docker/stage-runtime.sh --dest "$stage" --mode bundle \
  --skip-lib-dir "$torch_root/lib" --skip-lib-dir "$(dirname "$torch_root")/nvidia" \
  --skip-lib-dir "$(realpath "$cuda_home")" --skip-lib-dir /usr/local/cuda \
  --skip-lib-dir /usr/local/lib \
  --model models/default.pt "${bins[@]}" >&2
rm -rf "$out"
mkdir -p "$out/lib/compat" "$out/models"
cp -a "$stage/opt/stylizer/bin" "$out/bin"
cp -a "$stage/opt/stylizer/lib/." "$out/lib/"
cp models/default.pt "$out/models/"
for lib in libstdc++.so.6 libgcc_s.so.1; do
  cp -L "$(/sbin/ldconfig -p | awk -v n="$lib" '$1 == n && /x86-64/ {print $NF; exit}')" "$out/lib/compat/"
done
install -m 0755 scripts/gpu-check.sh "$out/gpu-check.sh"
basename "$(dirname "$torch_root")" | sed 's/^torch-//' > "$out/torch-version"
# Debian's FFmpeg alone pulls in ~150 MiB of codec libraries the loader
# needs: the libraries travel as one xz archive that gpu-check.sh unpacks.
tar -C "$out" -cf - lib | xz -T2 -9 >"$out/lib.tar.xz"
rm -rf "$out/lib"
size=$(du -sm "$out" | cut -f1)
echo "gpu-bundle: $out: $(tar -tJf "$out/lib.tar.xz" | grep -c '\.so') libraries, ${size} MiB"
if (( size > 60 )); then
  echo "gpu-bundle: over 60 MiB" >&2
  exit 1
fi
