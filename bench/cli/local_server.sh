# Sourced by the bench/cli scripts: one stylizer-server on free loopback
# ports for a benchmark run.
#   start_local_server: starts $BUILD_DIR/server/stylizer-server with $MODEL
#     and $SERVER_FLAGS, and stops it (and removes $work) when the script
#     exits, printing the end of the server's log first when the script
#     fails. A $MODEL that is missing is an error (exit 2) when it was given
#     ($model_given set), else the test archive replaces it, with a NOTE.
#     Sets port, mport (/metrics), addr, work (a scratch folder whose
#     server.log is the server's output) and cli.
#   wait_local_server: waits until it says SERVING (failing at once, with
#     the log's end, if the server exits) and prints its model line.
#   batch_sums: the sum and count of stylizer_batch_size, from /metrics.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

start_local_server() {
  if [ ! -f "$MODEL" ]; then
    if [ -n "${model_given:-}" ]; then
      echo "$(basename "$0"): no model archive $MODEL" >&2
      exit 2
    fi
    echo "NOTE: $MODEL is missing; using the random 4-style test archive" \
      "$BUILD_DIR/testdata/random4.pt (outputs look like noise)" >&2
    MODEL=$BUILD_DIR/testdata/random4.pt
  fi
  cli=$BUILD_DIR/client/stylizer
  port=$(free_port)
  mport=$(free_port)
  while [ "$mport" = "$port" ]; do mport=$(free_port); done
  addr=127.0.0.1:$port
  work=$(mktemp -d)
  "$BUILD_DIR/server/stylizer-server" --host=127.0.0.1 --port="$port" \
    --metrics_port="$mport" --model="$MODEL" ${SERVER_FLAGS:-} >"$work/server.log" 2>&1 &
  local_server_pid=$!
  trap 'stop_local_server $?' EXIT
}

# The EXIT trap: stops the server; on a failure prints the end of its log
# (which goes with $work) first.
stop_local_server() {
  kill -TERM "$local_server_pid" 2>/dev/null || true
  wait "$local_server_pid" 2>/dev/null || true
  if [ "$1" -ne 0 ] && [ -s "$work/server.log" ]; then
    echo "$(basename "$0"): failed (exit $1); the end of the server's log:" >&2
    tail -n 20 "$work/server.log" | sed 's/^/  server: /' >&2
  fi
  rm -rf "$work"
}

wait_local_server() {
  local _
  for _ in $(seq 1 600); do
    if ! kill -0 "$local_server_pid" 2>/dev/null; then
      echo "$(basename "$0"): stylizer-server exited during start-up" >&2
      exit 1
    fi
    if "$cli" --server="$addr" health >/dev/null 2>&1; then break; fi
    sleep 0.5
  done
  "$cli" --server="$addr" health >/dev/null
  "$cli" --server="$addr" styles | head -1
}

batch_sums() {
  curl -s "http://127.0.0.1:$mport/metrics" |
    awk '/^stylizer_batch_size_sum /{s=$2} /^stylizer_batch_size_count /{c=$2} END{print s+0, c+0}'
}
