#!/usr/bin/env bash
# `stylizer frames` on raw frames through a pipe: starts stylizer-server on a
# free loopback port, makes N raw RGB24 frames with the ffmpeg CLI (into a
# file first, so that making them is not timed), and times one
# `stylizer frames` command over them at each number of frames in flight,
# printing one markdown table row per run (wall time, frames/s, the wall
# time per frame, and the server's mean batch size from its /metrics).
#   usage: bench/cli/frames_pipe.sh [MODEL] [N] [SIZE] [IN_FLIGHT...]
#   env:   BUILD_DIR (default build), STYLE (default klimt), SERVER_FLAGS
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
N=${2:-120}
SIZE=${3:-640x360}
IN_FLIGHT=${4:-"1 2 4 8"}
STYLE=${STYLE:-klimt}
. bench/cli/local_server.sh
start_local_server
ffmpeg -nostdin -loglevel error -y -f lavfi -i "testsrc2=s=$SIZE:r=30" \
  -frames:v "$N" -f rawvideo -pix_fmt rgb24 "$work/frames.rgb"
wait_local_server

echo
echo "| frames | size | style | in flight | wall s | frames/s | ms per frame | mean batch |"
echo "|---|---|---|---|---|---|---|---|"
for c in $IN_FLIGHT; do
  read -r s0 c0 < <(batch_sums)
  start=$(date +%s.%N)
  "$cli" --server="$addr" --progress=none frames --size="$SIZE" \
    --styles="$STYLE" --concurrency="$c" <"$work/frames.rgb" >/dev/null
  end=$(date +%s.%N)
  read -r s1 c1 < <(batch_sums)
  python3 - "$N" "$SIZE" "$STYLE" "$c" "$start" "$end" "$s0" "$c0" "$s1" "$c1" <<'PY'
import sys
n, size, style, c = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
start, end, s0, c0, s1, c1 = map(float, sys.argv[5:])
wall = end - start
batch = (s1 - s0) / (c1 - c0) if c1 > c0 else 0
print(f"| {n} | {size} | {style} | {c} | {wall:.2f} | {n / wall:.2f} | "
      f"{1000 * wall / n:.1f} | {batch:.2f} |")
PY
done
