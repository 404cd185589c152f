#!/usr/bin/python3
"""Where does the fine grid of the outputs come from? Two small experiments
(docs/model-card.md reports their numbers):

1. Loss network alone: Gatys-style optimisation of a held-out photo's pixels
   (no stylization network, so no upsampling) against the training loss, once
   with VGG's max-pool and once with anti-aliased pooling. If the optimised
   pixels gain energy at periods 2 and 4, the loss itself asks for a grid.
2. Stylization network: the model's outputs for the photo shifted by 0-3
   pixels along each axis, averaged in frame coordinates. Averaging over those
   16 shifts cancels the content's period-2 and period-4 components exactly, so
   what stays at those periods is a grid anchored to the network's stride
   (its upsamplings and stride-2 convolutions), not to the content.

Grid energy is the ratio of the stride energy share (temporal.py) of the
output over the photo's; 1.0 means no grid added.

    /usr/bin/python3 training/grid_experiment.py --styles DIR --model models/default.pt
"""
import argparse
import os
import sys

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
import torch  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compare_losses import optimise  # noqa: E402
from stylizer_training.archive import load_archive, style_function  # noqa: E402
from stylizer_training.data import find_styles, load_paintings, read_photo_list  # noqa: E402
from stylizer_training.images import center_crop, load_rgb  # noqa: E402
from stylizer_training.objective import StyleObjective  # noqa: E402
from stylizer_training.temporal import stride_energy_share  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--styles", required=True, help="directory of the paintings")
    ap.add_argument("--model", required=True, help="serving archive")
    ap.add_argument("--photos", default=os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                     "content_photos.txt"))
    ap.add_argument("--style-names", default="mosaic,van_gogh")
    ap.add_argument("--size", type=int, default=96, help="side of the optimised crop")
    ap.add_argument("--iters", type=int, default=60)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    chosen = args.style_names.split(",")
    try:  # every input before part 1 (minutes)
        module, names = load_archive(args.model)
        missing = [n for n in chosen if n not in names]
        if missing:
            raise ValueError(f"--style-names: {args.model} has no style {', '.join(missing)}; "
                             f"it has {', '.join(names)}")
        _, heldout = read_photo_list(args.photos)
        if not heldout:
            raise ValueError(f"the photo list {args.photos} marks no 'heldout' photo")
        full = load_rgb(heldout[0], 512)
        paintings = load_paintings(find_styles(args.styles, chosen), 256)
    except (OSError, ValueError) as e:  # ExportError is a ValueError
        print(f"grid_experiment: error: {e}", file=sys.stderr)
        return 2
    photo = center_crop(full, args.size, args.size)
    base = stride_energy_share(photo)
    print(f"1. pixel optimisation, {args.size}x{args.size}, {args.iters} iterations "
          "(grid energy ratio of the optimised pixels):\n")
    print("| loss network pooling | " + " | ".join(chosen) + " |")
    print("|---|" + "---|" * len(chosen))
    for pool in ("max", "blur"):
        obj = StyleObjective(width=0.5, content_weight=1.0, pool=pool)
        obj.set_styles(paintings)
        ratios = [stride_energy_share(optimise(obj, photo, s, args.iters, 0.05)) / base
                  for s in range(len(chosen))]
        print(f"| {pool} | " + " | ".join(f"{r:.2f}" for r in ratios) + " |", flush=True)

    frame = center_crop(full, 224, 320)
    print("\n2. the model at 320x224: grid energy ratio of one output, and of the mean "
          "of 16 outputs for 0-3 pixel shifts (the frame-anchored part):\n")
    print("| style | one output | frame-anchored | share anchored |")
    print("|---|---|---|---|")
    crops = []
    for dy in range(4):
        for dx in range(4):
            crops.append(full[:, dy:dy + frame.shape[1] + 8, dx:dx + frame.shape[2] + 8])
    h, w = 224, 320
    inputs = torch.stack([c[:, 4:4 + h, 4:4 + w] for c in crops])
    base = sum(stride_energy_share(i) for i in inputs) / len(inputs)
    for name in chosen:
        stylize = style_function(module, len(names), names.index(name))
        outs = torch.cat([stylize(inputs[i:i + 4]).clamp(0, 1) for i in range(0, 16, 4)])
        one = sum(stride_energy_share(o) for o in outs) / len(outs)
        mean = outs.mean(0)
        # Energy of the mean at the stride bins, relative to one output's total.
        y = lambda t: 0.299 * t[0] + 0.587 * t[1] + 0.114 * t[2]  # noqa: E731
        spec_one = sum(float(torch.fft.fft2((y(o) - y(o).mean()).double()).abs().pow(2).sum())
                       for o in outs) / len(outs)
        spec_mean = torch.fft.fft2((y(mean) - y(mean).mean()).double()).abs().pow(2)
        rows, cols = [0, h // 4, h // 2, 3 * h // 4], [0, w // 4, w // 2, 3 * w // 4]
        anchored = sum(float(spec_mean[r, c]) for r in rows for c in cols) / spec_one
        print(f"| {name} | {one / base:.2f} | {anchored / base:.2f} | "
              f"{anchored / one:.0%} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
