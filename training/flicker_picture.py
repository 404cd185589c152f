#!/usr/bin/python3
"""Draws the before-and-after flicker of two serving archives on a few
consecutive frames of a movie: the frames, each model's outputs in one style,
and under each output its change from the previous output (|S_t - S_(t-1)|,
amplified), labelled with the mean change in grey levels.

    /usr/bin/python3 training/flicker_picture.py --before OLD.pt --after NEW.pt \
        --out docs/model-card-flicker.png [--style van_gogh] [--first 40 --count 4]
"""
import argparse
import os
import sys

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
import torch  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from stylizer_training.archive import load_archive, style_function  # noqa: E402
from stylizer_training.movie import read_frames  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def change_maps(seq: torch.Tensor, gain: float):
    """(maps, means): per frame after the first, |seq_t - seq_(t-1)| averaged
    over the channels and multiplied by gain, as grey [3, H, W] in [0, 1];
    and the mean change in 8-bit grey levels."""
    diff = (seq[1:] - seq[:-1]).abs().mean(dim=1, keepdim=True)
    means = [float(d.mean()) * 255 for d in diff]
    return (diff * gain).clamp(0, 1).expand(-1, 3, -1, -1), means


def draw(rows, labels, path: str, max_bytes: int) -> None:
    """rows: list of (list of [3, H, W] tiles, list of tile captions or None)."""
    from PIL import Image, ImageDraw
    to_pil = lambda t: Image.fromarray(  # noqa: E731
        (t.clamp(0, 1) * 255).round().byte().permute(1, 2, 0).numpy())
    h, w = rows[0][0][0].shape[1:]
    cols = max(len(tiles) for tiles, _ in rows)
    sheet = Image.new("RGB", (cols * w, len(rows) * h), "white")
    pen = ImageDraw.Draw(sheet)
    for r, ((tiles, captions), label) in enumerate(zip(rows, labels)):
        for c, tile in enumerate(tiles):
            x, y = c * w, r * h
            sheet.paste(to_pil(tile), (x, y))
            text = label if c == 0 else ""
            if captions:
                text = f"{text}  {captions[c]}".strip()
            if text:
                pen.rectangle([x, y, x + 8 + 6 * len(text), y + 14], fill="white")
                pen.text((x + 4, y + 2), text, fill="black")
    sheet.save(path, optimize=True)
    while os.path.getsize(path) > max_bytes:  # shrink until it fits the size budget
        scale = 0.95 * (max_bytes / os.path.getsize(path)) ** 0.5
        sheet = sheet.resize((int(sheet.width * scale), int(sheet.height * scale)),
                             Image.LANCZOS)
        sheet.save(path, optimize=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--before", required=True, help="serving archive (.pt), the old model")
    ap.add_argument("--after", required=True, help="serving archive (.pt), the new model")
    ap.add_argument("--out", required=True, help="PNG to write")
    ap.add_argument("--movie", default=os.path.join(HERE, "..", "tests", "data", "sample.mp4"))
    ap.add_argument("--style", default="van_gogh")
    ap.add_argument("--width", type=int, default=320)
    ap.add_argument("--height", type=int, default=180)
    ap.add_argument("--first", type=int, default=40, help="index of the first frame shown")
    ap.add_argument("--count", type=int, default=4, help="frames shown")
    ap.add_argument("--gain", type=float, default=4.0, help="amplification of the changes")
    ap.add_argument("--max-bytes", type=int, default=1000000)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    if args.count < 2 or args.first < 1:
        ap.error("--count must be at least 2 and --first at least 1 (a frame before it is needed)")
    torch.set_num_threads(args.threads)

    try:
        frames = read_frames(args.movie, args.width, args.height, args.first + args.count)
        archives = [(tag, path, load_archive(path))
                    for tag, path in (("before", args.before), ("after", args.after))]
    except (OSError, ValueError) as e:  # ExportError is a ValueError
        print(f"flicker_picture: error: {e}", file=sys.stderr)
        return 2
    if len(frames) < args.first + args.count:
        ap.error(f"{args.movie} has only {len(frames)} frames")
    for _, path, (_, names) in archives:
        if args.style not in names:
            ap.error(f"{path} has no style {args.style!r}; it has {', '.join(names)}")
    # One frame before the first shown, so every shown frame has a change.
    clip = frames[args.first - 1:args.first + args.count]
    rows, labels = [(list(clip[1:]), None)], ["frame"]
    in_maps, in_means = change_maps(clip, args.gain)
    rows.append((list(in_maps), [f"{m:.1f}" for m in in_means]))
    labels.append(f"frame change x{args.gain:g}")
    for tag, path, (module, names) in archives:
        outs = style_function(module, len(names), names.index(args.style))(clip)
        maps, means = change_maps(outs, args.gain)
        rows.append((list(outs[1:]), None))
        labels.append(f"{tag}: {args.style}")
        rows.append((list(maps), [f"{m:.1f}" for m in means]))
        labels.append(f"{tag}: change x{args.gain:g}")
        print(f"{tag} ({os.path.basename(path)}): mean |dS| "
              f"{sum(means) / len(means):.2f} grey levels; frames {sum(in_means) / len(in_means):.2f}")
    draw(rows, labels, args.out, args.max_bytes)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
