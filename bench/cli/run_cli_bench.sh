#!/usr/bin/env bash
# Whole-server load measured from the client side with `stylizer bench`:
# starts stylizer-server on a free loopback port, then runs the load generator
# in image and frames mode at several concurrencies (and video mode on the
# sample movie), and prints one markdown table row per run.
#   usage: bench/cli/run_cli_bench.sh [MODEL] [SIZE] [DURATION]
#   env:   BUILD_DIR (default build), STYLES (default 0), SERVER_FLAGS (extra)
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
SIZE=${2:-640x360}
DURATION=${3:-20s}
STYLES=${STYLES:-0}
. bench/cli/local_server.sh
start_local_server
wait_local_server

row() {
  python3 -c 'import json,sys
r = json.loads(sys.stdin.read())
l = r["latency_ms"]
print("| %s | %s | %s | %s | %d | %d | %.2f | %.2f | %.0f | %.0f | %.0f |" % (
    r["mode"], r["size"], r["styles"], r["concurrency"], r["requests"], r["errors"],
    r["requests_per_second"], r["frames_per_second"], l["p50"], l["p90"], l["p99"]))'
}
echo "| mode | size / input | styles | concurrency | requests | errors | requests/s | stylized frames/s | p50 ms | p90 ms | p99 ms |"
echo "|---|---|---|---|---|---|---|---|---|---|---|"
for mode in image frames; do
  for c in 1 2 4; do
    "$cli" --server="$addr" bench --json --mode=$mode --concurrency=$c \
      --duration="$DURATION" --size="$SIZE" --styles="$STYLES" | row || true
  done
done
if "$cli" --server="$addr" bench --json --mode=video --count=1 \
     --input=tests/data/sample.mp4 --styles="$STYLES" >"$work/video.json" 2>/dev/null; then
  row <"$work/video.json"
else
  echo "(video mode: $(tail -1 "$work/video.json" 2>/dev/null || echo unavailable))" >&2
fi
