#!/usr/bin/env bash
# Stages what a stylizer runtime image needs from a build: the binaries, the
# bundled model and how to get their shared libraries. Runs in the build stage
# of docker/Dockerfile.cpu and docker/Dockerfile.cuda (and in the manifest
# checks, against CI's own build).
#
#   docker/stage-runtime.sh --dest DIR [--mode packages|bundle]
#       [--model FILE]... [--skip-lib-dir DIR]... BINARY...
#
# Writes DIR/opt/stylizer/bin/<binary> (stripped),
# DIR/usr/share/stylizer/models/<model> and the link
# DIR/opt/stylizer/share/stylizer -> /usr/share/stylizer. Then, by --mode:
#   packages  (default; for a Debian runtime stage) the Debian packages that
#             own every shared library the binaries load, one per line, in
#             DIR/opt/stylizer/runtime-packages.txt;
#   bundle    (for a runtime stage on another distribution) a copy of every
#             such library in DIR/opt/stylizer/lib, except the C library and
#             loader (the runtime base has its own), the GPU driver's (the
#             container runtime mounts them) and those under --skip-lib-dir
#             (copied whole by the Dockerfile, e.g. LibTorch's lib/).
# Fails when a library is missing or cannot be mapped to a package.
set -euo pipefail

dest=""
mode=packages
models=()
skip_dirs=()
binaries=()
while [ $# -gt 0 ]; do
  case "$1" in
    --dest) dest=$2; shift 2 ;;
    --mode) mode=$2; shift 2 ;;
    --model) models+=("$2"); shift 2 ;;
    --skip-lib-dir) skip_dirs+=("$(realpath -m "$2")"); shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d'; exit 0 ;;
    -*) echo "stage-runtime: unknown option $1" >&2; exit 2 ;;
    *) binaries+=("$1"); shift ;;
  esac
done
if [ -z "$dest" ] || [ ${#binaries[@]} -eq 0 ]; then
  echo "stage-runtime: usage: $0 --dest DIR [--mode packages|bundle] [--model FILE]... BINARY..." >&2
  exit 2
fi
case "$mode" in packages|bundle) ;; *)
  echo "stage-runtime: --mode must be packages or bundle, not '$mode'" >&2; exit 2 ;;
esac

bin_dir=$dest/opt/stylizer/bin
lib_dir=$dest/opt/stylizer/lib
model_dir=$dest/usr/share/stylizer/models
mkdir -p "$bin_dir" "$model_dir"

for binary in "${binaries[@]}"; do
  if [ ! -f "$binary" ] || [ ! -x "$binary" ]; then
    echo "stage-runtime: $binary is not an executable file" >&2
    exit 1
  fi
  install -m 0755 "$binary" "$bin_dir/"
  strip --strip-unneeded "$bin_dir/$(basename "$binary")" 2>/dev/null || true
done
for model in "${models[@]}"; do
  if [ ! -s "$model" ]; then
    echo "stage-runtime: model $model is missing or empty" >&2
    exit 1
  fi
  install -m 0644 "$model" "$model_dir/"
done
# The server also looks for <binary dir>/../share/stylizer/models/default.pt.
mkdir -p "$dest/opt/stylizer/share"
ln -sfn /usr/share/stylizer "$dest/opt/stylizer/share/stylizer"

# Libraries the runtime base provides or the host mounts: never staged.
is_system_lib() {
  case "$(basename "$1")" in
    linux-vdso.so.*|ld-linux*.so.*|libc.so.*|libm.so.*|libdl.so.*|\
    libpthread.so.*|librt.so.*|libresolv.so.*|libutil.so.*|libanl.so.*|\
    libstdc++.so.*|libgcc_s.so.*) return 0 ;;
  esac
  return 1
}
is_driver_lib() {
  case "$(basename "$1")" in
    libcuda.so*|libnvidia-*.so*|libnvcuvid.so*|libnvidia-ml.so*) return 0 ;;
  esac
  return 1
}
is_skipped() {
  local real
  real=$(realpath -m "$1")
  for dir in "${skip_dirs[@]}"; do
    case "$real" in "$dir"/*) return 0 ;; esac
  done
  return 1
}

# Every shared library the binaries load: "name path" lines, path "not found"
# when the loader cannot find it.
libraries() {
  for binary in "${binaries[@]}"; do
    # A static binary has none ("not a dynamic executable").
    { ldd "$binary" 2>/dev/null || true; } | awk '
      $2 == "=>" && $3 == "not" { print $1, "not-found"; next }
      $2 == "=>" && $3 ~ /^\// { print $1, $3; next }
      $1 ~ /^\// { print $1, $1 }'
  done | sort -u
}

# The spellings a library's path may have in dpkg's database: resolved and
# as given, each with and without the /usr prefix (merged /usr).
spellings() {
  local path=$1 real
  real=$(realpath -m "$path")
  for p in "$real" "$path"; do
    echo "$p"
    case "$p" in
      /usr/*) echo "${p#/usr}" ;;
      *) echo "/usr$p" ;;
    esac
  done
}

# path -> owning package, for every spelling of every library, in one query.
declare -A owners=()
load_owners() {
  local paths=()
  while read -r name path; do
    [ -n "$name" ] && [ "$path" != not-found ] || continue
    mapfile -t -O "${#paths[@]}" paths < <(spellings "$path")
  done <<< "$libs"
  [ ${#paths[@]} -gt 0 ] || return 0
  # "libfoo1:amd64: /path" (or "pkg1, pkg2: /path" for shared paths).
  while IFS= read -r line; do
    local package=${line%%: /*} file=/${line#*: /}
    package=${package%%,*}
    owners[$file]=${package%%:*}
  done < <(dpkg-query -S "${paths[@]}" 2>/dev/null || true)
}

owner() {
  local p
  while read -r p; do
    if [ -n "${owners[$p]:-}" ]; then
      echo "${owners[$p]}"
      return 0
    fi
  done < <(spellings "$1")
  return 1
}

libs=$(libraries)
missing=0
declare -A packages=()
if [ "$mode" = bundle ]; then mkdir -p "$lib_dir"; else load_owners; fi
while read -r name path; do
  [ -n "$name" ] || continue
  if [ "$path" = not-found ]; then
    if is_driver_lib "$name"; then continue; fi
    echo "stage-runtime: $name is not found by the loader" >&2
    missing=1
    continue
  fi
  if is_system_lib "$path" || is_driver_lib "$path" || is_skipped "$path"; then
    continue
  fi
  if [ "$mode" = bundle ]; then
    cp -L "$path" "$lib_dir/$name"
  elif package=$(owner "$path"); then
    packages[$package]=1
  else
    echo "stage-runtime: no Debian package owns $path" >&2
    missing=1
  fi
done <<< "$libs"
[ "$missing" -eq 0 ] || exit 1

if [ "$mode" = packages ]; then
  list=$dest/opt/stylizer/runtime-packages.txt
  : > "$list"
  if [ ${#packages[@]} -gt 0 ]; then
    printf '%s\n' "${!packages[@]}" | sort > "$list"
  fi
  echo "stage-runtime: $(wc -l < "$list") runtime packages"
else
  echo "stage-runtime: bundled $(find "$lib_dir" -type f | wc -l) libraries"
fi
