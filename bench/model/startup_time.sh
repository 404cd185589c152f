#!/usr/bin/env bash
# Seconds from starting stylizer-server until its health says SERVING (model
# load, precision choice and warm-up), with the model's selection line.
#   bench/model/startup_time.sh [--build DIR] [--runs N] [-- SERVER FLAGS...]
# Example, an AVX2-only CPU without native bf16 simulated on a newer one:
#   DNNL_MAX_CPU_ISA=AVX2 ONEDNN_MAX_CPU_ISA=AVX2 taskset -c 0,1 \
#     bench/model/startup_time.sh -- --precision=auto
set -euo pipefail
build=build
runs=1
while [[ $# -gt 0 ]]; do
  case "$1" in
    --build) build=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --) shift; break ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
server="$build/server/stylizer-server"
cli="$build/client/stylizer"
for bin in "$server" "$cli"; do
  [[ -x $bin ]] || { echo "missing $bin; build it first" >&2; exit 1; }
done
log=$(mktemp)
trap 'rm -f "$log"' EXIT
for ((run = 1; run <= runs; run++)); do
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  start=$(date +%s.%N)
  "$server" --host=127.0.0.1 --port="$port" --metrics_port=-1 "$@" >"$log" 2>&1 &
  pid=$!
  status=timeout
  for ((i = 0; i < 3000; i++)); do  # at most 300 s
    if ! kill -0 "$pid" 2>/dev/null; then status=exited; break; fi
    if "$cli" --server="127.0.0.1:$port" health >/dev/null 2>&1; then
      status=serving; break
    fi
    sleep 0.1
  done
  end=$(date +%s.%N)
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  # (computed apart: a failing $(...) among printf's arguments would print 0.0)
  seconds=$(python3 -c 'import sys; print("%.1f" % (float(sys.argv[2]) - float(sys.argv[1])))' \
    "$start" "$end")
  printf 'run %d: %s after %s s\n' "$run" "$status" "$seconds"
  grep -E 'loaded|precision' "$log" | head -3 || true
  [[ $status == serving ]] || { cat "$log" >&2; exit 1; }
done
