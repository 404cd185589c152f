#!/usr/bin/python3
"""Measures a serving archive against the model card's quality bar.

On held-out photos (centre-cropped to --width x --height), for every style:
- colour cut: 1 - d(output, painting) / d(photo, painting), d on RGB mean and
  covariance (bar: >= 0.30 for every style);
- Gram cut: the same with the Gram distance on a random VGG-16 whose seed no
  training run uses (bar: >= 0.30);
- edge correlation of the luminance edge maps of photo and output (bar: >= 0.2);
- distinctness: mean absolute difference between two styles' outputs, in grey
  levels, for the closest pair (bar: >= 8).
Values are means over the photos. Prints a Markdown table and PASS/FAIL
(exit status 0 when every bar is met, 1 when one is not, 2 for an input that
is missing or unreadable, checked before the measures start);
--picture writes the model card's picture (one photo in every style, with the
paintings as thumbnails).

Then the frame-to-frame measures (stylizer_training/temporal.py), per style:
- static flicker: each held-out photo repeated for 2 s (--still-frames at
  30 fps) with independent noise of sigma 2 grey levels on every frame; mean
  |S_t - S_(t-1)| of the outputs and its ratio to the inputs';
- warping error: a pan and zoom over each held-out photo by known sub-pixel
  amounts; occlusion-masked |S_t - warp(S_(t-1))| with the exact flow, in grey
  levels (the inputs' own error, interpolation and rounding, is the floor);
- flow-free ratio on the bundled sample movie (evaluate_movie.py);
- grid energy: the outputs' share of spectral energy at periods 2 and 4
  pixels over the photos' share (1.0: no grid added).
--no-temporal skips them; --temporal-styles, --still-frames, --motion-frames
and a smaller --width/--height make a quick check.

    /usr/bin/python3 training/evaluate.py --model models/default.pt --styles DIR \
        [--photos training/content_photos.txt] [--picture docs/model-card-styles.png]
"""
import argparse
import os
import sys

# Idle OpenMP threads sleep instead of spinning: on a shared, busy CPU spinning
# threads burn the time slices their partners need (measured 10x slower).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
import torch  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from stylizer_training.archive import (load_archive, run_archive,  # noqa: E402
                                       style_function)
from stylizer_training.data import find_styles, read_photo_list  # noqa: E402
from stylizer_training.images import center_crop, load_rgb, resize_short  # noqa: E402
from stylizer_training.metrics import (GramDistance, colour_distance,  # noqa: E402
                                       edge_correlation, grey_level_difference)
from stylizer_training.movie import read_frames  # noqa: E402
from stylizer_training.temporal import (flow_free_ratio, grid_energy,  # noqa: E402
                                        motion_warping_error, static_flicker)

BAR = {"colour": 0.30, "gram": 0.30, "edges": 0.2, "distinct": 8.0}


@torch.no_grad()
def stylize_all(module, photo: torch.Tensor, n_styles: int) -> torch.Tensor:
    """[N, 3, H, W]: the photo in every style."""
    return run_archive(module, photo[None].expand(n_styles, -1, -1, -1),
                       torch.eye(n_styles)).clamp(0, 1)


def evaluate(module, names, paintings, photos):
    """Per-style metric means and the distinctness matrix, over the photos."""
    judge = GramDistance()
    targets = [judge.grams(p) for p in paintings]
    n = len(names)
    rows = {k: [[] for _ in range(n)] for k in ("colour", "gram", "edges")}
    diff = torch.zeros(n, n)
    outputs = []
    for photo in photos:
        outs = stylize_all(module, photo, n)
        outputs.append(outs)
        for s in range(n):
            p = paintings[s]
            rows["colour"][s].append(1 - colour_distance(outs[s], p) / colour_distance(photo, p))
            rows["gram"][s].append(1 - judge.distance(outs[s], targets[s])
                                   / judge.distance(photo, targets[s]))
            rows["edges"][s].append(edge_correlation(photo, outs[s]))
        for a in range(n):
            for b in range(a + 1, n):
                d = grey_level_difference(outs[a], outs[b]) / len(photos)
                diff[a, b] += d
                diff[b, a] += d
    mean = {k: [sum(v) / len(v) for v in rows[k]] for k in rows}
    return mean, diff, outputs


def table(names, mean, diff) -> str:
    """Markdown table of the measures plus the verdict line."""
    n = len(names)
    lines = ["| style | colour cut | Gram cut | edge corr | closest style (grey levels) |",
             "|---|---|---|---|---|"]
    for s in range(n):
        others = [(float(diff[s, o]), names[o]) for o in range(n) if o != s]
        d, o = min(others) if others else (float("inf"), "-")
        lines.append(f"| {names[s]} | {mean['colour'][s]:.2f} | {mean['gram'][s]:.2f} | "
                     f"{mean['edges'][s]:.2f} | {o} ({d:.1f}) |")
    closest = min((float(diff[a, b]) for a in range(n) for b in range(n) if a != b),
                  default=float("inf"))
    ok = (min(mean["colour"]) >= BAR["colour"] and min(mean["gram"]) >= BAR["gram"]
          and min(mean["edges"]) >= BAR["edges"] and closest >= BAR["distinct"])
    lines.append("")
    lines.append(f"worst: colour cut {min(mean['colour']):.2f} (bar {BAR['colour']}), "
                 f"Gram cut {min(mean['gram']):.2f} (bar {BAR['gram']}), "
                 f"edge corr {min(mean['edges']):.2f} (bar {BAR['edges']}), "
                 f"closest styles {closest:.1f} grey levels (bar {BAR['distinct']}): "
                 f"{'PASS' if ok else 'FAIL'}")
    return "\n".join(lines), ok


def evaluate_temporal(module, names, photos, outputs, sources, movie, still_frames,
                      motion_frames=30, only=None):
    """Per style (all, or those named in `only`): static flicker, warping
    error, flow-free ratio on the movie and grid energy, each averaged over the
    photos (see the module doc)."""
    rows = []
    for s, name in enumerate(names):
        if only and name not in only:
            continue
        stylize = style_function(module, len(names), s)
        flicker = [static_flicker(stylize, p, frames=still_frames) for p in photos]
        warp = [motion_warping_error(stylize, src, tuple(p.shape[1:]), motion_frames)
                for src, p in zip(sources, photos)]
        grid = grid_energy(photos, [o[s] for o in outputs])
        row = {
            "style": name,
            "flicker": sum(f["output"] for f in flicker) / len(flicker),
            "flicker_in": sum(f["input"] for f in flicker) / len(flicker),
            "warp": sum(w["output"] for w in warp) / len(warp),
            "warp_in": sum(w["input"] for w in warp) / len(warp),
            "grid": grid["ratio"],
            "movie": flow_free_ratio(stylize, movie)["ratio"] if movie is not None else float("nan"),
        }
        rows.append(row)
    return rows


def temporal_table(rows) -> str:
    """Markdown table of the frame-to-frame measures, with a mean row."""
    lines = ["| style | static flicker (grey levels) | flicker ratio | warping error (grey levels)"
             " | flow-free ratio (sample movie) | grid energy ratio |",
             "|---|---|---|---|---|---|"]
    for r in rows + [mean_row(rows)]:
        lines.append(f"| {r['style']} | {r['flicker']:.2f} | {r['flicker'] / r['flicker_in']:.2f} | "
                     f"{r['warp']:.2f} | {r['movie']:.2f} | {r['grid']:.2f} |")
    inputs = mean_row(rows)
    lines.append("")
    lines.append(f"inputs: static flicker {inputs['flicker_in']:.2f} grey levels, warping error "
                 f"{inputs['warp_in']:.2f} grey levels (interpolation and rounding floor)")
    return "\n".join(lines)


def mean_row(rows):
    keys = [k for k in rows[0] if k != "style"]
    out = {k: sum(r[k] for r in rows) / len(rows) for k in keys}
    out["style"] = "**mean**"
    return out


def picture(photo, outs, paintings, names, path: str, max_bytes: int = 1000000) -> None:
    """3x3 grid: the photo, then each style with its painting as an inset thumbnail."""
    from PIL import Image, ImageDraw
    to_pil = lambda t: Image.fromarray(  # noqa: E731
        (t.clamp(0, 1) * 255).round().byte().permute(1, 2, 0).numpy())
    h, w = photo.shape[1:]
    grid = Image.new("RGB", (3 * w, 3 * h), "white")
    draw = ImageDraw.Draw(grid)
    cells = [(to_pil(photo), "photo", None)] + [
        (to_pil(outs[s]), names[s], paintings[s]) for s in range(len(names))]
    for i, (img, label, painting) in enumerate(cells[:9]):
        x, y = (i % 3) * w, (i // 3) * h
        grid.paste(img, (x, y))
        if painting is not None:
            th = to_pil(painting)
            th.thumbnail((w // 3, h // 3))
            tx, ty = x + w - th.width - 4, y + h - th.height - 4
            draw.rectangle([tx - 2, ty - 2, tx + th.width + 1, ty + th.height + 1], fill="white")
            grid.paste(th, (tx, ty))
        draw.rectangle([x, y, x + 8 + 7 * len(label), y + 14], fill="white")
        draw.text((x + 4, y + 2), label, fill="black")
    grid.save(path, optimize=True)
    while os.path.getsize(path) > max_bytes:  # shrink until it fits the size budget
        scale = 0.95 * (max_bytes / os.path.getsize(path)) ** 0.5
        grid = grid.resize((int(grid.width * scale), int(grid.height * scale)), Image.LANCZOS)
        grid.save(path, optimize=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", required=True, help="serving archive (.pt)")
    ap.add_argument("--styles", required=True, help="directory of the paintings")
    ap.add_argument("--photos", default=os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                     "content_photos.txt"),
                    help="photo list; its 'heldout' photos are measured")
    ap.add_argument("--width", type=int, default=320)
    ap.add_argument("--height", type=int, default=224)
    ap.add_argument("--painting-size", type=int, default=224,
                    help="paintings are resized to this shorter side for the measures")
    ap.add_argument("--picture", default="", help="write the style grid PNG here")
    ap.add_argument("--picture-photo", type=int, default=0, help="held-out photo for it")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--no-temporal", action="store_true", help="skip the frame-to-frame measures")
    ap.add_argument("--still-frames", type=int, default=60,
                    help="frames of the static flicker test (2 s at 30 fps)")
    ap.add_argument("--motion-frames", type=int, default=30,
                    help="frames of the pan-and-zoom warping test")
    ap.add_argument("--temporal-styles", default="",
                    help="comma-separated styles for the frame-to-frame measures "
                         "(default: all; fewer for a quick check)")
    ap.add_argument("--movie", default=os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                    "..", "tests", "data", "sample.mp4"),
                    help="real footage for the flow-free ratio ('' to skip)")
    args = ap.parse_args()
    if args.still_frames < 2 or args.motion_frames < 2:
        ap.error("--still-frames and --motion-frames must be at least 2 (the measures are "
                 "changes from frame to frame)")
    if args.width < 8 or args.height < 8:
        ap.error("--width and --height must be at least 8 (the Gram measure's network "
                 "halves them three times)")
    if not args.no_temporal and (args.width % 4 or args.height % 4):
        ap.error("--width and --height must be positive multiples of 4 for the grid energy "
                 "measure (or give --no-temporal)")
    torch.set_num_threads(args.threads)
    # Every input is read and checked before the measures (minutes at the
    # default sizes) start: exit status 1 means only that a bar is not met.
    try:
        module, names, full, paintings, movie, only = read_inputs(args)
    except (OSError, ValueError) as e:  # ExportError is a ValueError
        print(f"evaluate: error: {e}", file=sys.stderr)
        return 2
    photos = [center_crop(f, args.height, args.width) for f in full]
    mean, diff, outputs = evaluate(module, names, paintings, photos)
    text, ok = table(names, mean, diff)
    print(f"{len(photos)} held-out photos at {args.width}x{args.height}:\n")
    print(text)
    if args.picture:
        i = args.picture_photo
        picture(photos[i], outputs[i], paintings, names, args.picture)
        print(f"picture: {args.picture} ({os.path.getsize(args.picture)} bytes)")
    if not args.no_temporal:
        # The pan and zoom runs over a crop 1.5 times the frame, so that every
        # frame is made of real photo.
        sources = [center_crop(f, args.height * 3 // 2, args.width * 3 // 2) for f in full]
        rows = evaluate_temporal(module, names, photos, outputs, sources, movie,
                                 args.still_frames, args.motion_frames, only)
        print("\nframe to frame:\n")
        print(temporal_table(rows))
    return 0 if ok else 1


def read_inputs(args):
    """(module, style names, held-out photos, paintings, movie frames or None,
    temporal styles) for main; OSError or ValueError (ExportError) naming what
    is missing or unreadable."""
    module, names = load_archive(args.model)
    _, heldout = read_photo_list(args.photos)
    if not heldout:
        raise ValueError(f"the photo list {args.photos} marks no 'heldout' photo")
    if args.picture and not 0 <= args.picture_photo < len(heldout):
        raise ValueError(f"--picture-photo {args.picture_photo}: the photo list has "
                         f"{len(heldout)} held-out photos (0 to {len(heldout) - 1})")
    full = [load_rgb(p, 1024) for p in heldout]
    paintings = [resize_short(load_rgb(p), args.painting_size)
                 for p in find_styles(args.styles, names)]
    movie, only = None, []
    if not args.no_temporal:
        only = [n for n in args.temporal_styles.split(",") if n]
        unknown = sorted(set(only) - set(names))
        if unknown:
            raise ValueError(f"--temporal-styles names unknown styles {unknown}; the archive "
                             f"has {names}")
        movie = read_frames(args.movie, 320, 180) if args.movie else None
    return module, names, full, paintings, movie, only


if __name__ == "__main__":
    sys.exit(main())
