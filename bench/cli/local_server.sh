# Sourced by the bench/cli scripts: one stylizer-server on free loopback
# ports for a benchmark run.
#   start_local_server: starts $BUILD_DIR/server/stylizer-server with $MODEL
#     (the test archive when that file is missing) and $SERVER_FLAGS, and
#     stops it (and removes $work) when the script
#     exits. Sets port, mport (/metrics), addr, work (a scratch folder whose
#     server.log is the server's output) and cli.
#   wait_local_server: waits until it says SERVING and prints its model line.
#   batch_sums: the sum and count of stylizer_batch_size, from /metrics.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

start_local_server() {
  [ -f "$MODEL" ] || MODEL=$BUILD_DIR/testdata/random4.pt
  cli=$BUILD_DIR/client/stylizer
  port=$(free_port)
  mport=$(free_port)
  addr=127.0.0.1:$port
  work=$(mktemp -d)
  "$BUILD_DIR/server/stylizer-server" --host=127.0.0.1 --port="$port" \
    --metrics_port="$mport" --model="$MODEL" ${SERVER_FLAGS:-} >"$work/server.log" 2>&1 &
  local_server_pid=$!
  trap 'kill -TERM $local_server_pid 2>/dev/null || true; wait $local_server_pid 2>/dev/null || true; rm -rf "$work"' EXIT
}

wait_local_server() {
  "$cli" --server="$addr" health --wait=300s >/dev/null
  "$cli" --server="$addr" styles | head -1
}

batch_sums() {
  curl -s "http://127.0.0.1:$mport/metrics" |
    awk '/^stylizer_batch_size_sum /{s=$2} /^stylizer_batch_size_count /{c=$2} END{print s+0, c+0}'
}
