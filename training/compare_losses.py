#!/usr/bin/python3
"""Compares style losses by Gatys-style optimisation of a photo's pixels.

For each loss configuration and each chosen style, starts from a held-out
photo at --size, runs Adam on the pixels against that configuration's
objective, and scores the result with the model card's measures (colour and
Gram distance cuts, edge correlation). Prints a Markdown table; --out DIR also
writes the result images and a strip per configuration.

    /usr/bin/python3 training/compare_losses.py --styles DIR [--size 128] [--iters 150]
"""
import argparse
import os
import sys
import time

# Idle OpenMP threads sleep instead of spinning (see train.py).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
import torch  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from stylizer_training.data import find_styles, load_paintings, read_photo_list  # noqa: E402
from stylizer_training.images import center_crop, load_rgb, save_rgb  # noqa: E402
from stylizer_training.metrics import (GramDistance, colour_distance,  # noqa: E402
                                       edge_correlation)
from stylizer_training.objective import StyleObjective  # noqa: E402

# name -> StyleObjective keyword arguments
CONFIGS = {
    "gram-vgg": dict(loss_net="vgg16", stat="gram", rgb_weight=0.0, style_weight=1.0),
    "centred-vgg": dict(loss_net="vgg16", stat="centred", rgb_weight=0.0),
    "centred-vgg+rgb": dict(loss_net="vgg16", stat="centred", rgb_weight=1.0),
    "centred-vgg-half+rgb": dict(loss_net="vgg16", stat="centred", rgb_weight=1.0, width=0.5),
    "centred-vgg-x2+rgb": dict(loss_net="vgg16", stat="centred", rgb_weight=1.0, seeds=(1, 2)),
    "centred-filterbank+rgb": dict(loss_net="filterbank", stat="centred", rgb_weight=1.0),
    "swd-vgg+rgb": dict(loss_net="vgg16", stat="swd", rgb_weight=1.0),
}


def optimise(obj: StyleObjective, photo: torch.Tensor, style: int, iters: int, lr: float):
    """Adam on the logits of the pixels, starting from the photo."""
    logit = torch.logit(photo.clamp(0.01, 0.99))[None].clone().requires_grad_(True)
    opt = torch.optim.Adam([logit], lr=lr)
    total0 = None
    for _ in range(iters):
        opt.zero_grad()
        out = torch.sigmoid(logit)
        total, _ = obj(out, photo[None], [style])
        if total0 is None:
            total0 = float(total)
        total.backward()
        opt.step()
    return torch.sigmoid(logit).detach()[0]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--styles", required=True, help="directory of the paintings")
    ap.add_argument("--photos", default=os.path.join(os.path.dirname(__file__),
                                                     "content_photos.txt"))
    ap.add_argument("--photo-index", type=int, default=0, help="which held-out photo")
    ap.add_argument("--style-names", default="klimt,mosaic,van_gogh,waves")
    ap.add_argument("--configs", default=",".join(CONFIGS))
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--style-size", type=int, default=256, help="painting shorter side")
    ap.add_argument("--iters", type=int, default=150)
    ap.add_argument("--lr", type=float, default=0.05)
    ap.add_argument("--content-weight", type=float, default=0.5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default="", help="directory for result images")
    args = ap.parse_args()
    unknown = [c for c in args.configs.split(",") if c not in CONFIGS]
    if unknown:
        ap.error(f"--configs: unknown {', '.join(unknown)}; known: {', '.join(CONFIGS)}")
    if args.size < 8:
        ap.error("--size must be at least 8 (the loss networks halve it three times)")
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    names = args.style_names.split(",")
    try:  # every input before the optimisations (minutes)
        _, heldout = read_photo_list(args.photos)
        if not 0 <= args.photo_index < len(heldout):
            raise ValueError(f"--photo-index {args.photo_index}: the photo list {args.photos} "
                             f"has {len(heldout)} held-out photos"
                             + (f" (0 to {len(heldout) - 1})" if heldout else ""))
        photo = center_crop(load_rgb(heldout[args.photo_index], 1024), args.size, args.size)
        # Only the chosen paintings: any names the styles folder has (the
        # original 8 are not required).
        all_paintings = load_paintings(find_styles(args.styles, names), args.style_size)
    except (OSError, ValueError) as e:
        print(f"compare_losses: error: {e}", file=sys.stderr)
        return 2
    idx = list(range(len(names)))
    judge = GramDistance()
    judge_targets = {i: judge.grams(all_paintings[i]) for i in idx}
    if args.out:
        os.makedirs(args.out, exist_ok=True)

    print("| loss | colour cut | Gram cut (eval net) | edge corr | s/iter |")
    print("|---|---|---|---|---|")
    for cname in args.configs.split(","):
        obj = StyleObjective(content_weight=args.content_weight, **CONFIGS[cname])
        obj.set_styles(all_paintings)
        cuts_c, cuts_g, edges = [], [], []
        t0 = time.time()
        results = []
        for i in idx:
            out = optimise(obj, photo, i, args.iters, args.lr)
            results.append(out)
            p = all_paintings[i]
            cuts_c.append(1 - colour_distance(out, p) / colour_distance(photo, p))
            cuts_g.append(1 - judge.distance(out, judge_targets[i])
                          / judge.distance(photo, judge_targets[i]))
            edges.append(edge_correlation(photo, out))
        dt = (time.time() - t0) / (args.iters * len(idx))
        if args.out:
            save_rgb(torch.cat(results, dim=2), os.path.join(args.out, f"{cname}.png"))
        mean = lambda v: sum(v) / len(v)  # noqa: E731
        print(f"| {cname} | {mean(cuts_c):.2f} (min {min(cuts_c):.2f}) | "
              f"{mean(cuts_g):.2f} (min {min(cuts_g):.2f}) | {mean(edges):.2f} | {dt:.3f} |",
              flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
