#!/usr/bin/env python3
"""Model-only benchmark: the C++ runtime (each precision) next to the Python
eager original network and the convolution roofline, in one run.

    /usr/bin/python3 bench/model/run_model_bench.py --build-dir build [--threads 2]

Runs build/bench/model/model_bench (C++: TorchModel::Stylize, uint8 in and
out, padding and rounding included) and FastStylizationNetwork in eager
PyTorch (float in and out, inference mode, same threads, same weights), then
prints a Markdown table. Each configuration: one warm-up call, then timed calls
for at least --min-seconds; the best call counts. Not part of ctest.
"""
import argparse
import json
import os
import subprocess
import sys
import time

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "training"))
from stylizer_training.network import FastStylizationNetwork  # noqa: E402

# Multiply-adds per output pixel of the original network (MODEL.md).
MACS_PER_PIXEL = (3 * 32 * 81 + 32 * 64 * 9 / 4 + 64 * 128 * 9 / 16 + 10 * 128 * 128 * 9 / 16
                  + 128 * 64 * 9 / 4 + 64 * 32 * 9 + 32 * 3 * 81)


def best_seconds(fn, min_seconds):
    fn()
    best, total, i = float("inf"), 0.0, 0
    while i < 2 or total < min_seconds:
        t0 = time.perf_counter()
        fn()
        s = time.perf_counter() - t0
        best, total, i = min(best, s), total + s, i + 1
    return best


def eager_rows(archive, sizes, batches, threads, min_seconds):
    """The original network, eager, fp32 (its reflection pads have no bf16 CPU kernel)."""
    torch.set_num_threads(threads)
    state = {k: v.float() for k, v in torch.jit.load(archive).state_dict().items()}
    n = state["instance_norm1.embed.weight"].shape[0]
    net = FastStylizationNetwork(n).eval()
    net.load_state_dict(state)
    rows = []
    with torch.inference_mode():
        for w, h in sizes:
            for b in batches:
                x = torch.rand(b, 3, h, w)
                y = torch.arange(b) % n
                s = best_seconds(lambda: net(x, y), min_seconds)
                rows.append({"kind": "model", "impl": "python-eager", "precision": "fp32",
                             "width": w, "height": h, "batch": b, "threads": threads,
                             "seconds_per_batch": s, "fps": b / s})
                print(json.dumps(rows[-1]), file=sys.stderr)
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--build-dir", default=os.path.join(ROOT, "build"))
    parser.add_argument("--archive", help="default: <build-dir>/testdata/random4.pt")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--precisions", default="fp32,bf16")
    parser.add_argument("--sizes", default="640x360,1280x720")
    parser.add_argument("--batches", default="1,2,4,8")
    parser.add_argument("--min-seconds", type=float, default=2.0)
    args = parser.parse_args()
    archive = args.archive or os.path.join(args.build_dir, "testdata", "random4.pt")
    sizes = [tuple(int(v) for v in s.split("x")) for s in args.sizes.split(",")]
    batches = [int(b) for b in args.batches.split(",")]

    started = time.time()
    rows = eager_rows(archive, sizes, batches, args.threads, args.min_seconds)
    binary = os.path.join(args.build_dir, "bench", "model", "model_bench")
    out = subprocess.run([binary, f"--archive={archive}", f"--threads={args.threads}",
                          f"--precisions={args.precisions}", f"--sizes={args.sizes}",
                          f"--batches={args.batches}", f"--min_seconds={args.min_seconds}"],
                         check=True, capture_output=True, text=True)
    for line in out.stdout.splitlines():
        print(line, file=sys.stderr)
        rows.append(json.loads(line))
    roofline = {r["precision"]: r["gflops"] for r in rows if r["kind"] == "roofline"}
    eager = {(r["width"], r["height"], r["batch"]): r["fps"] for r in rows
             if r["kind"] == "model" and r["impl"] == "python-eager"}

    print(f"Convolution roofline (3x3, 128->128, 1x128x184x324, {args.threads} threads): "
          + ", ".join(f"{p} {g:.0f} GFLOP/s" for p, g in roofline.items()))
    print(f"Network: {MACS_PER_PIXEL / 1e3:.1f} k multiply-adds per pixel "
          "(the original's convolutions; the runtime's sub-pixel upsampling needs 13 % fewer).")
    print()
    print("| size | batch | implementation | precision | frames/s | ms/frame | GFLOP/s "
          "| of roofline | vs eager fp32 |")
    print("|---|---|---|---|---|---|---|---|---|")
    for w, h in sizes:
        for b in batches:
            for r in rows:
                if r["kind"] != "model" or (r["width"], r["height"], r["batch"]) != (w, h, b):
                    continue
                gflops = r["fps"] * w * h * MACS_PER_PIXEL * 2 / 1e9
                peak = roofline.get(r["precision"])
                share = f"{gflops / peak:.2f}" if peak else "-"
                speedup = r["fps"] / eager[(w, h, b)]
                print(f"| {w}x{h} | {b} | {r['impl']} | {r['precision']} | {r['fps']:.2f} "
                      f"| {1e3 / r['fps']:.0f} | {gflops:.0f} | {share} | {speedup:.2f}x |")
    print()
    print(f"(run took {time.time() - started:.0f} s; torch {torch.__version__}, "
          f"{os.cpu_count()} CPUs)")


if __name__ == "__main__":
    main()
