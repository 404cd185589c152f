#!/usr/bin/env bash
# The main job, end to end on one machine (the README's first command):
# installs the Debian packages, builds, starts stylizer-server with the bundled
# model on a free local port, waits until its health says SERVING, turns the
# bundled sample movie into one movie per style plus a contact sheet with the
# `stylizer` CLI, stops the server (SIGTERM) and prints where the outputs are.
#   usage: scripts/demo.sh            (as root on a fresh Debian 12 machine)
#   env:   BUILD_DIR (default build), OUT (default out/demo), MODEL (default
#          models/default.pt), INPUT (default tests/data/sample.mp4),
#          STYLES (default all), MAX_SIDE (e.g. 320: a faster, smaller run),
#          SKIP_SETUP=1 to skip install and build; paths are read from the
#          directory it is run in
set -euo pipefail
# Settings are environment variables only: -h/--help prints the lines above;
# any argument else is refused (it was ignored, and the whole demo ran).
if [ $# -gt 0 ]; then
  case "$1" in
    -h|--help) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; exit 0 ;;
    *) echo "demo: unknown argument $1; settings are environment variables:" >&2
       sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0" >&2
       exit 2 ;;
  esac
fi
# Paths given are the caller's (resolved before the cd), the defaults the
# checkout's.
for var in BUILD_DIR OUT MODEL INPUT; do
  [ -z "${!var:-}" ] || printf -v "$var" '%s' "$(realpath -m "${!var}")"
done
# A model asked for is that model: no stand-in for a mistyped path, and no
# install or build before saying so.
if [ -n "${MODEL:-}" ] && [ ! -f "$MODEL" ]; then
  echo "demo: no model archive $MODEL (MODEL=)" >&2
  exit 2
fi
cd "$(dirname "$0")/.."

BUILD_DIR=${BUILD_DIR:-build}
OUT=${OUT:-out/demo}
MODEL=${MODEL:-models/default.pt}
INPUT=${INPUT:-tests/data/sample.mp4}
STYLES=${STYLES:-all}
MAX_SIDE=${MAX_SIDE:-}

say() { echo "demo: $*"; }

if [ "${SKIP_SETUP:-0}" != 1 ]; then
  ./scripts/install-deps.sh
  # What the demo runs only: the server, the CLI and the test archive (its
  # fallback model); scripts/test.sh builds the rest.
  BUILD_DIR=$BUILD_DIR TARGETS="stylizer-server stylizer stylizer_testdata" ./scripts/build.sh
fi

server_bin=$BUILD_DIR/server/stylizer-server
cli=$BUILD_DIR/client/stylizer
[ -x "$cli" ] || { say "the stylizer CLI was not built ($cli)"; exit 1; }
[ -x "$server_bin" ] || { say "stylizer-server was not built ($server_bin)"; exit 1; }
if [ ! -f "$MODEL" ]; then
  fallback=$BUILD_DIR/testdata/random4.pt
  [ -f "$fallback" ] || { say "no model archive: $MODEL (nor $fallback)"; exit 1; }
  say "NOTE: $MODEL is not in this checkout yet; using the random 4-style test"
  say "      archive $fallback instead (outputs will look like noise, not paintings)"
  MODEL=$fallback
fi

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
port=$(free_port)
metrics_port=$(free_port)
while [ "$metrics_port" = "$port" ]; do metrics_port=$(free_port); done
server="127.0.0.1:$port"

mkdir -p "$(dirname "$OUT")"
log="$OUT.server.log"
server_pid=
client_pid=
cleanup() {
  local rc=$?
  if [ -n "$client_pid" ] && kill -0 "$client_pid" 2>/dev/null; then
    kill -INT "$client_pid" 2>/dev/null || true  # it deletes its partial outputs
    wait "$client_pid" 2>/dev/null || true
  fi
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  if [ $rc -ne 0 ]; then
    say "FAILED (exit $rc); the server's log is $log"
    [ -f "$log" ] && tail -n 20 "$log" | sed 's/^/  server: /'
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say "starting stylizer-server on $server (metrics on :$metrics_port) with $MODEL"
"$server_bin" --host=127.0.0.1 --port="$port" --metrics_port="$metrics_port" \
  --model="$MODEL" >"$log" 2>&1 &
server_pid=$!

say "waiting for the server's health to say SERVING (model load and warm-up)"
for _ in $(seq 1 600); do
  if ! kill -0 "$server_pid" 2>/dev/null; then
    wait "$server_pid" || true
    server_pid=
    say "stylizer-server exited during start-up"
    exit 1
  fi
  if "$cli" --server="$server" health >/dev/null 2>&1; then break; fi
  sleep 0.5
done
"$cli" --server="$server" health >/dev/null
"$cli" --server="$server" styles

say "stylizing $INPUT into every style ($STYLES)"
progress=plain
[ -t 2 ] && progress=bars
# In the background and waited for, so that a signal to this script is
# handled at once (the trap stops the client, which removes partial outputs).
"$cli" --server="$server" --progress="$progress" video "$INPUT" --styles="$STYLES" \
  ${MAX_SIDE:+--max_side="$MAX_SIDE"} --out="$OUT" --contact_sheet="$OUT/contact.png" \
  2> >(tee "$OUT.client.log" >&2) &
client_pid=$!
rc=0
wait "$client_pid" || rc=$?
client_pid=
if [ $rc -ne 0 ] && grep -q "does not offer this call" "$OUT.client.log"; then
  # This server build has no StylizeVideo yet: show what exists, a still frame.
  say "NOTE: this server does not implement StylizeVideo yet; stylizing one"
  say "      frame of $INPUT as a still image instead"
  mkdir -p "$OUT"
  ffmpeg -nostdin -loglevel error -y -ss 2 -i "$INPUT" -frames:v 1 "$OUT/frame.png"
  "$cli" --server="$server" image "$OUT/frame.png" --styles="$STYLES" --out="$OUT/"
elif [ $rc -ne 0 ]; then
  exit $rc
fi

say "stopping the server"
kill -TERM "$server_pid"
wait "$server_pid" || say "the server exited with status $?"
server_pid=

say "done. Outputs in $OUT/:"
ls -l "$OUT" | tail -n +2 | sed 's/^/  /'
[ -f "$OUT/contact.png" ] && say "look first at $OUT/contact.png (input and every style side by side)"
exit 0
