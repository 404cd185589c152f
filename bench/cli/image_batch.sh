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
cd "$(dirname "$0")/../.."
BUILD_DIR=${BUILD_DIR:-build}
MODEL=${1:-models/default.pt}
N=${2:-16}
SIZE=${3:-640x360}
CONCURRENCIES=${4:-"loop 1 2 4 8"}
STYLES=${STYLES:-all}
cli=$BUILD_DIR/client/stylizer
[ -f "$MODEL" ] || MODEL=$BUILD_DIR/testdata/random4.pt
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
port=$(free_port)
mport=$(free_port)
work=$(mktemp -d)
"$BUILD_DIR/server/stylizer-server" --host=127.0.0.1 --port="$port" \
  --metrics_port="$mport" --model="$MODEL" ${SERVER_FLAGS:-} >"$work/server.log" 2>&1 &
pid=$!
trap 'kill -TERM $pid 2>/dev/null || true; wait $pid 2>/dev/null || true; rm -rf "$work"' EXIT
for i in $(seq 1 "$N"); do
  ffmpeg -nostdin -loglevel error -y -f lavfi \
    -i "testsrc2=s=$SIZE,hue=h=$((i * 23))" -frames:v 1 "$work/photo$i.jpg"
done
"$cli" --server="127.0.0.1:$port" health --wait=300s >/dev/null
"$cli" --server="127.0.0.1:$port" styles | head -1
styles=$("$cli" --server="127.0.0.1:$port" styles --json |
  python3 -c 'import json, sys; print(len(json.load(sys.stdin)["styles"]))')
[ "$STYLES" = all ] || styles=$(tr ',' '\n' <<<"$STYLES" | grep -c .)

# Sum and count of stylizer_batch_size, from /metrics.
batch_sums() {
  curl -s "http://127.0.0.1:$mport/metrics" |
    awk '/^stylizer_batch_size_sum /{s=$2} /^stylizer_batch_size_count /{c=$2} END{print s+0, c+0}'
}

echo
echo "| photos | size | styles | concurrency | wall s | images/s | stylized frames/s | mean batch |"
echo "|---|---|---|---|---|---|---|---|"
for c in $CONCURRENCIES; do
  rm -rf "$work/out"
  read -r s0 c0 < <(batch_sums)
  start=$(date +%s.%N)
  if [ "$c" = loop ]; then
    for photo in "$work"/photo*.jpg; do
      "$cli" --server="127.0.0.1:$port" --progress=none image "$photo" \
        --styles="$STYLES" --out="$work/out" >/dev/null
    done
  else
    "$cli" --server="127.0.0.1:$port" --progress=none image "$work"/photo*.jpg \
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
