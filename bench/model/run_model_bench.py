#!/usr/bin/env python3
"""Model-only benchmark: the C++ runtime (each precision) next to the Python
eager original network and the convolution roofline, in one run.

    /usr/bin/python3 bench/model/run_model_bench.py --build-dir build [--threads 2]

Runs build/bench/model/model_bench (C++: TorchModel::Stylize, uint8 in and
out, padding and rounding included) and FastStylizationNetwork in eager
PyTorch (float in and out, inference mode, same threads, same weights), then
prints a Markdown table. Each configuration: one warm-up call, then timed calls
for at least --min-seconds; the best call counts. The two sides alternate for
--rounds rounds (eager, C++, eager, C++, ...) and each configuration's best
round counts, so that a burst of other work on a shared machine slows one
round of one side, not the whole of one side. Not part of ctest.
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

# Multiply-adds per output pixel of the original network (docs/model-runtime.md, The network).
MACS_PER_PIXEL = (3 * 32 * 81 + 32 * 64 * 9 / 4 + 64 * 128 * 9 / 16 + 10 * 128 * 128 * 9 / 16
                  + 128 * 64 * 9 / 4 + 64 * 32 * 9 + 32 * 3 * 81)


def best_times(fn, min_seconds):
    """(best wall seconds, best process CPU seconds) per call, after a warm-up."""
    fn()
    best, best_cpu, total, i = float("inf"), float("inf"), 0.0, 0
    while i < 2 or total < min_seconds:
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        s, c = time.perf_counter() - t0, time.process_time() - c0
        best, best_cpu, total, i = min(best, s), min(best_cpu, c), total + s, i + 1
    return best, best_cpu


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
                # The padded frame the C++ runtime runs (multiples of 4, at
                # least 8): 854x480 is 856x480 on both sides.
                x = torch.rand(b, 3, max(8, (h + 3) // 4 * 4), max(8, (w + 3) // 4 * 4))
                y = torch.arange(b) % n
                s, c = best_times(lambda: net(x, y), min_seconds)
                rows.append({"kind": "model", "impl": "python-eager", "precision": "fp32",
                             "width": w, "height": h, "batch": b, "threads": threads,
                             "seconds_per_batch": s, "fps": b / s, "cpu_seconds_per_batch": c})
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
    parser.add_argument("--rounds", type=int, default=3,
                        help="rounds of both sides, alternating (default 3)")
    args = parser.parse_args()
    archive = args.archive or os.path.join(args.build_dir, "testdata", "random4.pt")
    sizes = [tuple(int(v) for v in s.split("x")) for s in args.sizes.split(",")]
    batches = [int(b) for b in args.batches.split(",")]

    started = time.time()
    load = os.getloadavg()
    binary = os.path.join(args.build_dir, "bench", "model", "model_bench")
    best = {}  # per configuration: its best round (wall and CPU each)

    def keep(row):
        key = (row["kind"], row.get("impl", ""), row.get("variant", ""),
               row["precision"], row["width"], row["height"], row.get("batch", 0))
        old = best.get(key)
        if old is None:
            best[key] = dict(row)
            return
        if row["kind"] == "roofline":
            for field in ("gflops", "gflops_per_cpu_second"):
                old[field] = max(old[field], row[field])
        else:
            for field in ("seconds_per_batch", "cpu_seconds_per_batch"):
                old[field] = min(old[field], row[field])
            old["fps"] = old["batch"] / old["seconds_per_batch"]

    for _ in range(max(1, args.rounds)):
        for row in eager_rows(archive, sizes, batches, args.threads, args.min_seconds):
            keep(row)
        out = subprocess.run([binary, f"--archive={archive}", f"--threads={args.threads}",
                              f"--precisions={args.precisions}", f"--sizes={args.sizes}",
                              f"--batches={args.batches}",
                              f"--min_seconds={args.min_seconds}"],
                             check=True, capture_output=True, text=True)
        for line in out.stdout.splitlines():
            print(line, file=sys.stderr)
            keep(json.loads(line))
    rows = list(best.values())
    # One roofline per precision and frame size: the residual blocks' map.
    roofline = {(r["precision"], r["width"], r["height"]): r
                for r in rows if r["kind"] == "roofline"}
    eager = {(r["width"], r["height"], r["batch"]): r for r in rows
             if r["kind"] == "model" and r["impl"] == "python-eager"}
    flop_per_pixel = MACS_PER_PIXEL * 2

    print(f"Convolution roofline (3x3, 128->128 on the residual blocks' map of each size, "
          f"{args.threads} threads): "
          + ", ".join(f"{p} at {w}x{h} (1x128x{r['map']}) {r['gflops']:.0f} GFLOP/s "
                      f"({r['gflops_per_cpu_second']:.0f} per CPU-second)"
                      for (p, w, h), r in roofline.items()))
    print(f"Network: {MACS_PER_PIXEL / 1e3:.1f} k multiply-adds per pixel (the original's "
          "convolutions; GFLOP/s below counts these, the runtime's own count is lower: "
          "docs/model-runtime.md).")
    print(f"Load average before the run: {load[0]:.1f} (1 min) on {os.cpu_count()} CPUs; "
          f"best of {max(1, args.rounds)} alternating rounds.")
    print()
    print("| size | batch | implementation | precision | frames/s | ms/frame | GFLOP/s "
          "| of roofline | vs eager | CPU ms/frame | of roofline (CPU) | vs eager (CPU) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    over_roofline = False
    for w, h in sizes:
        for b in batches:
            ref = eager[(w, h, b)]
            for r in rows:
                if r["kind"] != "model" or (r["width"], r["height"], r["batch"]) != (w, h, b):
                    continue
                flop = b * w * h * flop_per_pixel
                gflops = flop / r["seconds_per_batch"] / 1e9
                cpu_gflops = flop / r["cpu_seconds_per_batch"] / 1e9 * args.threads
                peak = roofline.get((r["precision"], w, h))
                share = f"{gflops / peak['gflops']:.2f}" if peak else "-"
                over_roofline |= bool(peak) and gflops > peak["gflops"]
                cpu_share = (f"{cpu_gflops / (peak['gflops_per_cpu_second'] * args.threads):.2f}"
                             if peak else "-")
                speedup = ref["seconds_per_batch"] / r["seconds_per_batch"]
                cpu_speedup = ref["cpu_seconds_per_batch"] / r["cpu_seconds_per_batch"]
                print(f"| {w}x{h} | {b} | {r['impl']} | {r['precision']} | {r['fps']:.2f} "
                      f"| {1e3 * r['seconds_per_batch'] / b:.0f} | {gflops:.0f} | {share} "
                      f"| {speedup:.2f}x | {1e3 * r['cpu_seconds_per_batch'] / b:.0f} "
                      f"| {cpu_share} | {cpu_speedup:.2f}x |")
    print()
    if over_roofline:
        print("A share of the roofline above 1: the roofline's calls were slowed by other "
              "work; rerun on a quieter machine, or with more --rounds or --min-seconds.")
    print(f"(run took {time.time() - started:.0f} s; torch {torch.__version__}, "
          f"{os.cpu_count()} CPUs)")


if __name__ == "__main__":
    main()
