#!/usr/bin/env python3
"""Refused-call flood: what one connection without a token costs the server.

Starts stylizer-server with a token file (so every call without a token is
refused UNAUTHENTICATED), then opens one HTTP/2 connection and sends
HEADERS followed at once by RST_STREAM, as fast as it can, for --seconds
(the "rapid reset" pattern, which Debian's gRPC 1.51 does not slow down).
Reports the calls sent, the server's CPU seconds, and the log lines and
bytes the server wrote meanwhile.

  python3 bench/security/refusal_flood.py
  python3 bench/security/refusal_flood.py --server_bin OLD/stylizer-server

Needs the `h2` package's frame and header libraries (PyPI: hyperframe,
hpack; `pip install --target DIR h2`, then PYTHONPATH=DIR), which Debian
does not ship for this use. Not a CI test: see docs/performance.md.
"""
import argparse
import os
import shutil
import socket
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..", "..")
sys.path.insert(0, os.path.join(ROOT, "tests", "pylib"))
from server_process import ServerProcess  # noqa: E402


def cpu_seconds(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--server_bin",
                        default=os.path.join(ROOT, "build", "server",
                                             "stylizer-server"))
    parser.add_argument("--model",
                        default=os.path.join(ROOT, "models", "default.pt"))
    parser.add_argument("--seconds", type=float, default=10)
    args = parser.parse_args()
    # Imported after the arguments, so that --help works without them.
    import hpack
    from hyperframe.frame import HeadersFrame, RstStreamFrame, SettingsFrame

    work = tempfile.mkdtemp(prefix="refusal-flood-")
    token = os.path.join(work, "token")
    with open(token, "w") as f:
        f.write("0123456789abcdef0123456789abcdef\n")
    log_path = os.path.join(work, "server.log")
    server = ServerProcess(args.server_bin, args.model, log_path,
                           "--threads=1", "--work_threads=1",
                           f"--auth_token_file={token}", metrics=False)
    try:
        server.wait_for_log(r"\bserving\b")
        port = server.port
        headers = hpack.Encoder().encode([
            (":method", "POST"), (":scheme", "http"),
            (":path", "/stylizer.v1.Stylizer/GetModelInfo"),
            (":authority", "x"), ("content-type", "application/grpc"),
            ("te", "trailers")])
        sock = socket.create_connection(("127.0.0.1", port))
        sock.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" +
                     SettingsFrame(0).serialize())

        def drain():
            while True:
                try:
                    if not sock.recv(1 << 20):
                        return
                except OSError:
                    return

        threading.Thread(target=drain, daemon=True).start()
        log_before = os.path.getsize(log_path)
        lines_before = open(log_path, "rb").read().count(b"\n")
        cpu_before = cpu_seconds(server.proc.pid)
        start = time.time()
        stream_id, sent = 1, 0
        while time.time() - start < args.seconds:
            burst = []
            for _ in range(200):
                burst.append(HeadersFrame(stream_id, headers,
                                          flags=["END_HEADERS"]).serialize())
                burst.append(RstStreamFrame(stream_id, error_code=8).serialize())
                stream_id += 2
                sent += 1
            sock.sendall(b"".join(burst))
        elapsed = time.time() - start
        time.sleep(1)  # the last refusals are logged
        cpu = cpu_seconds(server.proc.pid) - cpu_before
        log_bytes = os.path.getsize(log_path) - log_before
        lines = open(log_path, "rb").read().count(b"\n") - lines_before
        sock.close()
        print("| server | calls sent | seconds | server CPU s | log lines "
              "| log bytes/s |")
        print("|---|---:|---:|---:|---:|---:|")
        print(f"| {args.server_bin} | {sent} | {elapsed:.1f} | {cpu:.1f} | "
              f"{lines} | {log_bytes / elapsed:.0f} |")
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
