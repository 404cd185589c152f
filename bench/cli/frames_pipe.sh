#!/usr/bin/env bash
# `stylizer frames` on raw frames through a pipe: starts stylizer-server on a
# free loopback port, makes N raw RGB24 frames with the ffmpeg CLI (into a
# file first, so that making them is not timed), and times one
# `stylizer frames` command over them at each number of frames in flight,
# then `stylizer bench --mode=frames` (one frame at a time) on the same
# server and the model alone (model_bench, batch 1, the server's precision),
# and prints one markdown table: wall time, frames/s, the wall time per
# frame, the server's mean batch size (from its /metrics) and each row's
# share of the model alone, all from this one run.
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

rows=$work/rows.tsv
: >"$rows"
for c in $IN_FLIGHT; do
  read -r s0 c0 < <(batch_sums)
  start=$(date +%s.%N)
  "$cli" --server="$addr" --progress=none frames --size="$SIZE" \
    --styles="$STYLE" --concurrency="$c" <"$work/frames.rgb" >/dev/null
  end=$(date +%s.%N)
  read -r s1 c1 < <(batch_sums)
  python3 - "$N" "$c" "$start" "$end" "$s0" "$c0" "$s1" "$c1" >>"$rows" <<'PY'
import sys
n, c = int(sys.argv[1]), sys.argv[2]
start, end, s0, c0, s1, c1 = map(float, sys.argv[3:])
batch = (s1 - s0) / (c1 - c0) if c1 > c0 else 0
print(f"stylizer frames, {c} in flight\t{end - start:.3f}\t{n / (end - start):.3f}\t{batch:.2f}")
PY
done
read -r s0 c0 < <(batch_sums)
"$cli" --server="$addr" --progress=none bench --mode=frames --size="$SIZE" \
  --styles="$STYLE" --count="$N" --concurrency=1 --json >"$work/bench.json"
read -r s1 c1 < <(batch_sums)
python3 - "$work/bench.json" "$s0" "$c0" "$s1" "$c1" >>"$rows" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
s0, c0, s1, c1 = map(float, sys.argv[2:])
batch = (s1 - s0) / (c1 - c0) if c1 > c0 else 0
print(f"bench --mode=frames, 1 in flight\t{r['elapsed_seconds']:.3f}\t"
      f"{r['frames_per_second']:.3f}\t{batch:.2f}")
PY
# The model alone, at the precision the server chose, with the server idle.
precision=$(sed -n 's/.* serving .*precision=\([a-z0-9]*\).*/\1/p' "$work/server.log" | head -n 1)
model_fps=$("$BUILD_DIR/bench/model/model_bench" --archive="$MODEL" \
  --precisions="${precision:-fp32}" --sizes="$SIZE" --batches=1 --min_seconds=2 \
  --roofline=false --threads="$(nproc)" | python3 -c '
import json, sys
print(max(json.loads(l)["fps"] for l in sys.stdin if l.strip()))')

echo
echo "| what | frames | size | style | wall s | frames/s | ms per frame | mean batch | against model only |"
echo "|---|---|---|---|---|---|---|---|---|"
echo "| model only (model_bench, batch 1, ${precision:-fp32}) | | $SIZE | | | $(python3 -c "print(f'{$model_fps:.2f} | {1000 / $model_fps:.1f}')") | 1 | 1.00 |"
while IFS=$'\t' read -r what wall fps batch; do
  python3 -c "
n, fps, model = $N, $fps, $model_fps
print(f'| $what | {n} | $SIZE | $STYLE | $wall | {fps:.2f} | {1000 / fps:.1f} | $batch | {fps / model:.2f} |')"
done <"$rows"
