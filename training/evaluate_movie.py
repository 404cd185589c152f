#!/usr/bin/python3
"""Measures how much a serving archive's outputs move on a real movie, without
the server or the CLI: the flow-free ratio mean |S_t - S_(t-1)| / mean
|I_t - I_(t-1)| per style (1.0: the outputs change exactly as much as the
frames; above 1: the model adds flicker of its own).

    /usr/bin/python3 training/evaluate_movie.py --model models/default.pt \
        [--movie tests/data/sample.mp4] [--width 320 --height 180] [--frames 80]
"""
import argparse
import os
import sys

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
import torch  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from stylizer_training.movie import read_frames  # noqa: E402
from stylizer_training.archive import load_archive, style_function  # noqa: E402
from stylizer_training.temporal import flow_free_ratio  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def measure(module, names, frames):
    """{style: flow_free_ratio(...)} for every style of the archive."""
    return {name: flow_free_ratio(style_function(module, len(names), s), frames)
            for s, name in enumerate(names)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", required=True, help="serving archive (.pt)")
    ap.add_argument("--movie", default=os.path.join(HERE, "..", "tests", "data", "sample.mp4"))
    ap.add_argument("--width", type=int, default=320)
    ap.add_argument("--height", type=int, default=180)
    ap.add_argument("--frames", type=int, default=80)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    if args.width < 1 or args.height < 1:
        # ffmpeg's scale filter would read 0 and -1 as "keep the aspect ratio".
        ap.error("--width and --height must be at least 1")
    if args.frames < 2:
        ap.error("--frames must be at least 2 (the ratio is a change from frame to frame)")
    torch.set_num_threads(args.threads)
    try:
        module, names = load_archive(args.model)
        frames = read_frames(args.movie, args.width, args.height, args.frames)
    except (OSError, ValueError) as e:  # ExportError is a ValueError
        print(f"evaluate_movie: error: {e}", file=sys.stderr)
        return 2
    if len(frames) < 2:
        print(f"evaluate_movie: error: {args.movie} has only {len(frames)} frame",
              file=sys.stderr)
        return 2
    results = measure(module, names, frames)
    print(f"{os.path.basename(args.movie)}: {len(frames)} frames at {args.width}x{args.height}, "
          f"input mean |dI| {next(iter(results.values()))['input']:.2f} grey levels\n")
    print("| style | mean abs dS (grey levels) | flow-free ratio |")
    print("|---|---|---|")
    for name, r in results.items():
        print(f"| {name} | {r['output']:.2f} | {r['ratio']:.2f} |")
    mean = sum(r["ratio"] for r in results.values()) / len(results)
    print(f"\nmean flow-free ratio: {mean:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
