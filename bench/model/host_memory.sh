#!/bin/bash
# The model's host memory on the CPU: the server's peak resident memory
# (VmHWM) over one still image, against its resident memory once SERVING.
# One server per case, so each peak is that case's alone. The k8s policy
# check (k8s/tests/policy.py, MODEL_*) and docs/server.md ("Sizing") use
# these numbers.
#   bench/model/host_memory.sh [CASE...]   CASE = precision:max_batch:WxH:styles
# Default cases: fp32 and bf16, 1920x1080 and 3840x2160 alone, and
# 1920x1080 in 4 styles with --max_batch_size=4 (a batch of 4 frames).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD_DIR=$(realpath -m "${BUILD_DIR:-$ROOT/build}")
# A MODEL given must exist; without one the bundled model (or, missing, the
# test archive) is measured.
model_given=${MODEL:-}
MODEL=$(realpath -m "${MODEL:-$ROOT/models/default.pt}")
. "$ROOT/bench/cli/local_server.sh"
cases=("$@")
if [ ${#cases[@]} -eq 0 ]; then
  cases=(fp32:1:1920x1080:1 fp32:1:3840x2160:1 fp32:4:1920x1080:4
         bf16:1:1920x1080:1 bf16:1:3840x2160:1 bf16:4:1920x1080:4)
fi
kib() { awk -v k="$1" '$1 == k":" {print $2}' "/proc/$2/status"; }
printf '%-9s %-9s %-10s %-6s %-12s %-12s %s\n' precision max_batch size styles \
  serving_MB peak_MB 'peak-serving per pixel of one frame (B)'
for c in "${cases[@]}"; do
  IFS=: read -r precision batch size styles <<<"$c"
  (
    SERVER_FLAGS="--precision=$precision --max_batch_size=$batch --threads=${THREADS:-2} --memory_budget_bytes=0"
    start_local_server
    wait_local_server >/dev/null
    ffmpeg -loglevel error -y -f lavfi -i "testsrc2=size=$size:duration=1" \
      -frames:v 1 "$work/in.png"
    serving=$(kib VmRSS "$local_server_pid")
    "$cli" --server="$addr" image "$work/in.png" \
      --styles="$(seq -s, 0 $((styles - 1)))" --out="$work/out" >/dev/null
    peak=$(kib VmHWM "$local_server_pid")
    pixels=$(( ${size%x*} * ${size#*x} ))
    printf '%-9s %-9s %-10s %-6s %-12s %-12s %s\n' "$precision" "$batch" "$size" \
      "$styles" $((serving / 1024)) $((peak / 1024)) \
      $(( (peak - serving) * 1024 / pixels ))
  )
done
