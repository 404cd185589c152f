#!/usr/bin/env python3
"""Head-of-line blocking behind a large image, with and without the cap on a
batch's pixels (--max_batch_pixels).

A forward pass cannot be stopped once it runs. Starts stylizer-server on the
CPU (one thread) with each --max_batch_pixels given, and times a small
image (64x48, one style) sent with the real CLI:
  * cancelled: just after a 1024x768 image in every style whose 50 ms
    timeout passed (its caller left at once);
  * behind: 1 s after such an image was sent without a timeout; the large
    image's own time is reported too.
Prints a Markdown table.

  python3 bench/batching/head_of_line.py
  python3 bench/batching/head_of_line.py --caps=-1,0 --rounds=2

Not a CI test: see docs/performance.md.
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..", "..")
sys.path.insert(0, os.path.join(ROOT, "tests", "pylib"))
from server_process import ServerProcess  # noqa: E402


def start_server(args, cap, work):
    """The server with --max_batch_pixels=`cap`, once serving, and the cap
    in effect (from its `serving` line)."""
    server = ServerProcess(args.server_bin, args.model,
                           os.path.join(work, f"server{cap}.log"),
                           "--threads=1", "--work_threads=2",
                           f"--max_batch_pixels={cap}", metrics=False)
    serving = server.wait_for_log(r"\bserving .*max_batch_pixels=(-?\d+)",
                                  timeout=180)
    return server, int(serving.group(1))


def image(args, port, path, out, *flags):
    """Seconds the CLI took, and its exit code."""
    start = time.time()
    r = subprocess.run([args.cli_bin, f"--server=127.0.0.1:{port}",
                        "--retries=0", "image", path, f"--out={out}", *flags],
                       capture_output=True, text=True)
    return time.time() - start, r.returncode


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--server_bin", default=os.path.join(
        ROOT, "build", "server", "stylizer-server"))
    parser.add_argument("--cli_bin", default=os.path.join(
        ROOT, "build", "client", "stylizer"))
    parser.add_argument("--model",
                        default=os.path.join(ROOT, "models", "default.pt"))
    parser.add_argument("--caps", default="-1,0",
                        help="--max_batch_pixels values, comma-separated")
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()

    work = tempfile.mkdtemp(prefix="head-of-line-")
    try:
        run(args, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run(args, work):
    big = os.path.join(work, "big.png")
    small = os.path.join(work, "small.png")
    for path, size in ((big, "1024x768"), (small, "64x48")):
        subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i",
                        f"testsrc2=s={size}", "-frames:v", "1", path],
                       check=True)
    print("| --max_batch_pixels | in effect | small image after a cancelled "
          "large one, s | small image behind a large one, s | the large "
          "one, s |")
    print("|---|---:|---:|---:|---:|")
    for cap in args.caps.split(","):
        server, effective = start_server(args, cap, work)
        port = server.port
        try:
            out = os.path.join(work, f"out{cap}")
            os.makedirs(out, exist_ok=True)
            image(args, port, small, out, "--styles=klimt")  # warm
            for _ in range(args.rounds):
                image(args, port, big, out, "--styles=all", "--timeout=50ms")
                after_cancel, code = image(args, port, small, out,
                                           "--styles=klimt")
                assert code == 0, "the small image failed"
                result = {}

                def large():
                    result["s"] = image(args, port, big, out,
                                        "--styles=all")[0]

                t = threading.Thread(target=large)
                t.start()
                time.sleep(1)
                behind, code = image(args, port, small, out, "--styles=klimt")
                assert code == 0, "the small image failed"
                t.join()
                print(f"| {cap} | {effective} | {after_cancel:.1f} | "
                      f"{behind:.1f} | {result['s']:.1f} |")
        finally:
            server.stop()


if __name__ == "__main__":
    main()
