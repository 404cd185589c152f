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
# A function's failing command stops it inside $(...) too (timed_video).
shopt -s inherit_errexit
# Paths given are the caller's (resolved before the cd), the defaults the
# checkout's; a MODEL given must exist.
model_given=${1:-}
MODEL=${1:+$(realpath -m "$1")}
[ -z "${BUILD_DIR:-}" ] || BUILD_DIR=$(realpath -m "$BUILD_DIR")
cd "$(dirname "$0")/../.."
BUILD_DIR=${BUILD_DIR:-build}
MODEL=${MODEL:-models/default.pt}
SECONDS_=${2:-40}
SIZE=${3:-320x180}
STYLES=${STYLES:-0}
FPS=${FPS:-24}
cli=$BUILD_DIR/client/stylizer
server=$BUILD_DIR/server/stylizer-server
if [ ! -f "$MODEL" ]; then
  [ -z "$model_given" ] || { echo "run_scale_bench: no model archive $MODEL" >&2; exit 2; }
  echo "NOTE: $MODEL is missing; using the random 4-style test archive" \
    "$BUILD_DIR/testdata/random4.pt" >&2
  MODEL=$BUILD_DIR/testdata/random4.pt
fi
work=$(mktemp -d)
pids=()
stop_servers() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  pids=()
}
on_exit() {
  local rc=$1 log
  stop_servers
  if [ "$rc" -ne 0 ]; then
    for log in "$work"/server-*.log; do
      [ -s "$log" ] || continue
      echo "run_scale_bench: failed (exit $rc); the end of $(basename "$log"):" >&2
      tail -n 20 "$log" | sed 's/^/  server: /' >&2
    done
  fi
  rm -rf "$work"
}
trap 'on_exit $?' EXIT
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
  local _
  for _ in $(seq 1 600); do
    if ! kill -0 "${pids[-1]}" 2>/dev/null; then
      echo "run_scale_bench: stylizer-server exited during start-up" >&2
      exit 1
    fi
    if "$cli" --server="127.0.0.1:$port" health >/dev/null 2>&1; then break; fi
    sleep 0.5
  done
  "$cli" --server="127.0.0.1:$port" health >/dev/null
  addr="127.0.0.1:$port"
}
# Runs a job; prints wall seconds. A job that fails, or writes no movie,
# fails the script with the CLI's log (no row with a made-up time).
timed_video() {
  local target=$1 out=$2
  shift 2
  local t0 t1
  t0=$(date +%s.%N)
  "$cli" --server="$target" --progress=none video "$work/movie.mp4" \
    --styles="$STYLES" --out="$out" "$@" >/dev/null 2>"$out.log" || {
    local rc=$?
    echo "run_scale_bench: the job on $target failed (exit $rc):" >&2
    cat "$out.log" >&2
    exit 1
  }
  t1=$(date +%s.%N)
  compgen -G "$out/*.mp4" >/dev/null || {
    echo "run_scale_bench: the job on $target wrote no movie into $out:" >&2
    cat "$out.log" >&2
    exit 1
  }
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

single_out=$(ls "$work"/single/*.mp4 | head -1)
one_out=$(ls "$work"/one/*.mp4 | head -1)
two_out=$(ls "$work"/two/*.mp4 | head -1)
if diff <(frames "$one_out") <(frames "$two_out") >/dev/null &&
   diff <(frames "$single_out") <(frames "$one_out") >/dev/null; then
  echo "outputs: same frames, times and durations" >&2
else
  echo "outputs DIFFER" >&2
  exit 1
fi
