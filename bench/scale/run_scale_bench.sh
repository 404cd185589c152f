#!/usr/bin/env bash
# One movie, the same CPU budget, two layouts: one stylizer-server with
# --threads=2, against two servers with --threads=1 each behind one ipv4:
# target with `stylizer video --split=2` (and, as a control, one server with
# --threads=1). Makes the movie with the ffmpeg CLI,
# times each whole job from the client side (upload to last byte written),
# checks that both outputs have the same frames and times, and prints one
# markdown table row per layout.
#   usage: bench/scale/run_scale_bench.sh [MODEL] [SECONDS] [SIZE]
#   env:   BUILD_DIR (default build), STYLES (default 0), FPS (default 24),
#          SERVER_FLAGS (extra server flags, e.g. --precision=fp32)
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD_DIR=${BUILD_DIR:-build}
MODEL=${1:-models/default.pt}
SECONDS_=${2:-40}
SIZE=${3:-320x180}
STYLES=${STYLES:-0}
FPS=${FPS:-24}
cli=$BUILD_DIR/client/stylizer
server=$BUILD_DIR/server/stylizer-server
[ -f "$MODEL" ] || MODEL=$BUILD_DIR/testdata/random4.pt
work=$(mktemp -d)
pids=()
stop_servers() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  pids=()
}
trap 'stop_servers; rm -rf "$work"' EXIT
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
# Starts a server with `--threads=$1`; sets $addr (not in a subshell, so
# that $pids keeps it).
start_server() {
  local port mport
  port=$(free_port)
  mport=$(free_port)
  "$server" --host=127.0.0.1 --port="$port" --metrics_port="$mport" \
    --model="$MODEL" --threads="$1" ${SERVER_FLAGS:-} \
    >"$work/server-$port.log" 2>&1 &
  pids+=($!)
  "$cli" --server="127.0.0.1:$port" health --wait=300s >/dev/null
  addr="127.0.0.1:$port"
}
# Runs a job; prints wall seconds.
timed_video() {
  local target=$1 out=$2
  shift 2
  local t0 t1
  t0=$(date +%s.%N)
  "$cli" --server="$target" --progress=none video "$work/movie.mp4" \
    --styles="$STYLES" --out="$out" "$@" >/dev/null 2>"$out.log"
  t1=$(date +%s.%N)
  python3 -c "print('%.1f' % ($t1 - $t0))"
}
frames() {
  ffprobe -v error -select_streams v -show_entries packet=pts_time,duration_time \
    -of csv "$1" | sort -t, -k2,2g
}

ffmpeg -nostdin -hide_banner -loglevel error -y -f lavfi \
  -i "testsrc2=s=$SIZE:r=$FPS:d=$SECONDS_" -f lavfi -i "sine=f=440:d=$SECONDS_" \
  -c:v libx264 -g $((2 * FPS)) -pix_fmt yuv420p -c:a aac -shortest \
  "$work/movie.mp4"
n=$(ffprobe -v error -select_streams v -count_packets \
  -show_entries stream=nb_read_packets -of csv=p=0 "$work/movie.mp4")

echo "| layout | movie | frames | styles | wall s | frames/s |"
echo "|---|---|---|---|---|---|"
# Control: one server, one thread (what each of the two below has).
start_server 1
a=$addr
single=$(timed_video "$a" "$work/single")
stop_servers
python3 -c "print('| 1 server, --threads=1 | ${SECONDS_} s ${SIZE} ${FPS} fps | $n | $STYLES | $single | %.1f |' % ($n / $single))"

start_server 2
a=$addr
one=$(timed_video "$a" "$work/one")
stop_servers
python3 -c "print('| 1 server, --threads=2 | ${SECONDS_} s ${SIZE} ${FPS} fps | $n | $STYLES | $one | %.1f |' % ($n / $one))"

start_server 1
a=$addr
start_server 1
b=$addr
two=$(timed_video "ipv4:$a,$b" "$work/two" --split=2 --verbose)
stop_servers
python3 -c "print('| 2 servers, --threads=1 each, --split=2 | ${SECONDS_} s ${SIZE} ${FPS} fps | $n | $STYLES | $two | %.1f |' % ($n / $two))"
grep -E '^(split|replica|not split)' "$work/two.log" >&2 || true

one_out=$(ls "$work"/one/*.mp4 | head -1)
two_out=$(ls "$work"/two/*.mp4 | head -1)
if diff <(frames "$one_out") <(frames "$two_out") >/dev/null; then
  echo "outputs: same frames, times and durations" >&2
else
  echo "outputs DIFFER" >&2
  exit 1
fi
