#!/usr/bin/env bash
# `stylizer image` on many photos at once: starts stylizer-server on a free
# loopback port, makes N JPEG photos with the ffmpeg CLI, and times one
# `stylizer image` command over all of them at each --concurrency, and (as
# "loop") one command per photo, printing one markdown table row per run
# (wall time, images/s, stylized frames/s, and the server's mean batch size
# from its /metrics).
#   usage: bench/cli/image_batch.sh [MODEL] [N] [SIZE] [CONCURRENCIES]
#   env:   BUILD_DIR (default build), STYLES (default all), SERVER_FLAGS
set -euo pipefail
shopt -s inherit_errexit  # a function's failing command stops it inside $(...) too
# Paths given are the caller's (resolved before the cd), the defaults the
# checkout's; a MODEL given must exist.
model_given=${1:-}
MODEL=${1:+$(realpath -m "$1")}
[ -z "${BUILD_DIR:-}" ] || BUILD_DIR=$(realpath -m "$BUILD_DIR")
cd "$(dirname "$0")/../.."
BUILD_DIR=${BUILD_DIR:-build}
MODEL=${MODEL:-models/default.pt}
N=${2:-16}
SIZE=${3:-640x360}
CONCURRENCIES=${4:-"loop 1 2 4 8"}
STYLES=${STYLES:-all}
. bench/cli/local_server.sh
start_local_server
for i in $(seq 1 "$N"); do
  ffmpeg -nostdin -loglevel error -y -f lavfi \
    -i "testsrc2=s=$SIZE,hue=h=$((i * 23))" -frames:v 1 "$work/photo$i.jpg"
done
wait_local_server
styles=$("$cli" --server="$addr" styles --json |
  python3 -c 'import json, sys; print(len(json.load(sys.stdin)["styles"]))')
[ "$STYLES" = all ] || styles=$(tr ',' '\n' <<<"$STYLES" | grep -c .)

echo
echo "| photos | size | styles | concurrency | wall s | images/s | stylized frames/s | mean batch |"
echo "|---|---|---|---|---|---|---|---|"
for c in $CONCURRENCIES; do
  rm -rf "$work/out"
  read -r s0 c0 < <(batch_sums)
  start=$(date +%s.%N)
  if [ "$c" = loop ]; then
    for photo in "$work"/photo*.jpg; do
      "$cli" --server="$addr" --progress=none image "$photo" \
        --styles="$STYLES" --out="$work/out" >/dev/null
    done
  else
    "$cli" --server="$addr" --progress=none image "$work"/photo*.jpg \
      --styles="$STYLES" --concurrency="$c" --out="$work/out" >/dev/null
  fi
  end=$(date +%s.%N)
  read -r s1 c1 < <(batch_sums)
  python3 - "$N" "$SIZE" "$styles" "$c" "$start" "$end" "$s0" "$c0" "$s1" "$c1" <<'PY'
import sys
n, size, styles, c = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4]
start, end, s0, c0, s1, c1 = map(float, sys.argv[5:])
wall = end - start
batch = (s1 - s0) / (c1 - c0) if c1 > c0 else 0
print(f"| {n} | {size} | {styles} | {c} | {wall:.2f} | {n / wall:.2f} | "
      f"{n * styles / wall:.2f} | {batch:.2f} |")
PY
done
