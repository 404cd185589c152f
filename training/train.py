#!/usr/bin/python3
"""Trains the multi-style network (docs/model-runtime.md) on content photos and paintings.

    /usr/bin/python3 training/train.py --styles DIR --checkpoint RUN.ckpt \
        [--photos LIST | --content DIR ...] [--size 128] [--steps 3000] [--batch 8] \
        [--export ARCHIVE.pt]

DIR holds one painting per style, named <style>.jpg|jpeg|png (--style-names
gives the names and their index order). Rerunning the same command resumes
from --checkpoint; --steps may be raised to train on (a resumed run refuses
model options and an --init that differ from the checkpoint's). --export writes the
serving archive when training ends (or at once, with --export-only). The
default loss network is a randomly initialised VGG-16 (no download needed);
--loss-weights FILE uses a torchvision-format VGG-16 state_dict instead (see
docs/model-card.md for the conversion).
"""
import argparse
import datetime
import os
import sys
import warnings

# Idle OpenMP threads sleep instead of spinning: on a shared, busy CPU spinning
# threads burn the time slices their partners need (measured 10x slower).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
import torch  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from stylizer_training.data import (STYLE_NAMES, find_styles, load_paintings,  # noqa: E402
                                    read_photo_list)
from stylizer_training.images import list_images  # noqa: E402
from stylizer_training.losses import count_taps  # noqa: E402
from stylizer_training.network import FastStylizationNetwork, cin_names  # noqa: E402
from stylizer_training.trainer import Trainer, format_eta  # noqa: E402

DEFAULT_PHOTOS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "content_photos.txt")
# Options that change what is trained; a resumed run keeps the checkpoint's and
# refuses other values given on the command line.
MODEL_OPTS = ("size", "style_size", "batch", "lr", "loss_net", "stat", "loss_seeds",
              "loss_weights", "loss_width", "style_weight", "rgb_weight", "content_weight",
              "content_tap", "tv_weight", "crop_min", "seed", "style_names", "loss_pool",
              "noise_weight", "noise_sigma", "equivariance_weight", "framediff_weight",
              "spectral_weight", "motion_shift", "motion_zoom", "motion_rotate")


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    ap.add_argument("--styles", help="directory with one painting per style")
    ap.add_argument("--style-names", default=",".join(STYLE_NAMES),
                    help="comma-separated style names, in index order")
    ap.add_argument("--photos", default=None,
                    help="photo list file (lines 'PATH' or 'heldout PATH'); default: "
                         "training/content_photos.txt unless --content is given")
    ap.add_argument("--content", nargs="*", default=[],
                    help="content photo directories or files (instead of --photos; the "
                         "held-out photos of the photo list are left out)")
    ap.add_argument("--checkpoint", required=True, help="checkpoint file (resumed if present)")
    ap.add_argument("--checkpoint-every", type=int, default=25, help="steps between saves")
    ap.add_argument("--steps", type=int, default=3000, help="total optimiser steps")
    ap.add_argument("--size", type=int, default=128, help="crop side in pixels (multiple of 4)")
    ap.add_argument("--style-size", type=int, default=256,
                    help="paintings are resized to this shorter side")
    ap.add_argument("--crop-min", type=float, default=0.3,
                    help="smallest crop, as a fraction of the photo's shorter side")
    ap.add_argument("--batch", type=int, default=8, help="batch size (rows cycle through styles)")
    ap.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate")
    ap.add_argument("--loss-net", default="vgg16", choices=("vgg16", "filterbank"))
    ap.add_argument("--loss-weights", default=None,
                    help="torchvision VGG-16 state_dict file (default: random weights)")
    ap.add_argument("--loss-seeds", default="1",
                    help="seeds of the random loss networks (comma-separated: averaged)")
    ap.add_argument("--loss-width", type=float, default=1.0,
                    help="channel multiplier of a random VGG-16")
    ap.add_argument("--stat", default="centred", choices=("centred", "gram", "swd"),
                    help="style statistic")
    ap.add_argument("--style-weight", type=float, default=1.0)
    ap.add_argument("--rgb-weight", type=float, default=1.0,
                    help="weight of the RGB mean/covariance term")
    ap.add_argument("--content-weight", type=float, default=1.0)
    ap.add_argument("--tv-weight", type=float, default=0.0,
                    help="weight of a total-variation term (smooths pixel-grid artefacts)")
    ap.add_argument("--loss-pool", default="max", choices=("max", "blur"),
                    help="pooling of the VGG-16 loss network (blur: anti-aliased)")
    ap.add_argument("--noise-weight", type=float, default=0.0,
                    help="weight of the noise-stability term: f(x + noise) ~ f(x)")
    ap.add_argument("--noise-sigma", type=float, default=0.02,
                    help="standard deviation of that noise, in [0, 1] units")
    ap.add_argument("--equivariance-weight", type=float, default=0.0,
                    help="weight of the equivariance term: f(T(x)) ~ T(f(x)) for small "
                         "random shifts, zooms and rotations T")
    ap.add_argument("--framediff-weight", type=float, default=0.0,
                    help="weight of the frame-difference term: f(T(x)) - f(x) ~ T(x) - x")
    ap.add_argument("--spectral-weight", type=float, default=0.0,
                    help="weight of the stride-energy term (output energy at periods 2 "
                         "and 4 pixels above the input's)")
    ap.add_argument("--motion-shift", type=float, default=3.0,
                    help="largest random shift of T, in pixels per axis")
    ap.add_argument("--motion-zoom", type=float, default=0.03,
                    help="largest random zoom of T (fraction)")
    ap.add_argument("--motion-rotate", type=float, default=2.0,
                    help="largest random rotation of T, in degrees")
    ap.add_argument("--content-tap", type=int, default=2,
                    help="which loss-network tap the content term uses (0-based)")
    ap.add_argument("--init", default=None,
                    help="start a new run from the network weights of this checkpoint, "
                         "archive or state_dict file (e.g. fine-tune at a larger --size); "
                         "its style rows are matched to --style-names by name when it "
                         "records names, else taken by index")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    ap.add_argument("--export", default=None, help="serving archive to write at the end")
    ap.add_argument("--export-only", action="store_true",
                    help="export the checkpoint without training")
    ap.add_argument("--name", default="default", help="model name in the archive")
    args = ap.parse_args(argv)
    if args.size < 4 or args.size % 4:
        ap.error("--size must be a positive multiple of 4")
    if args.batch < 1:
        ap.error("--batch must be at least 1")
    if args.checkpoint_every < 1:
        ap.error("--checkpoint-every must be at least 1")
    try:
        args.loss_seeds = [int(s) for s in args.loss_seeds.split(",")]
    except ValueError:
        ap.error(f"--loss-seeds: {args.loss_seeds!r} is not a comma-separated list of integers")
    # Read only to start a run: a resumed one has it in its checkpoint.
    if args.init is not None and not os.path.exists(args.checkpoint) \
            and not os.path.isfile(args.init):
        ap.error(f"--init: no file {args.init}")
    if args.styles is not None and not os.path.isdir(args.styles):
        ap.error(f"--styles: no directory {args.styles}")
    from stylizer_training.export import ExportError, check_style_names, split_style_names
    args.style_names = split_style_names(args.style_names)
    try:
        check_style_names(args.style_names)  # before training, not at its export
    except ExportError as e:
        ap.error(f"--style-names: {e}")
    if args.export_only and not args.export:
        ap.error("--export-only needs --export")
    # The options given on the command line (not argparse's defaults), which a
    # resumed run compares with the checkpoint's.
    # (argparse leaves alone the attributes a namespace already has.)
    unset = object()
    again = ap.parse_args(argv, argparse.Namespace(**{k: unset for k in vars(args)}))
    args.given = {k for k, v in vars(again).items() if v is not unset}
    return args


class TrainError(Exception):
    """A checkpoint or an option that train.py refuses (exit status 2)."""


def load_checkpoint(path: str, what: str) -> dict:
    """torch.load of a checkpoint (or --init file) whose zip members pass
    their CRC-32 check; TrainError otherwise."""
    from stylizer_training.export import ExportError, check_zip_members
    try:
        check_zip_members(path, what, "copy the file again")
        with warnings.catch_warnings():  # an archive (--init) loads as its module
            warnings.filterwarnings("ignore", message=".*looks like a TorchScript archive")
            return torch.load(path, map_location="cpu")
    except ExportError as e:
        raise TrainError(str(e))
    except Exception as e:  # pickle, zip and torch errors alike
        raise TrainError(f"cannot read {what} {path}: {e}")


def check_train_checkpoint(ckpt, path: str) -> None:
    """TrainError unless ckpt is what train.py saves (a bare state_dict is not)."""
    if not (isinstance(ckpt, dict) and isinstance(ckpt.get("opts"), dict)
            and "model" in ckpt and "step" in ckpt):
        raise TrainError(f"checkpoint {path} is not a train.py checkpoint (it holds no "
                         "training options): export it with export_seed.py --checkpoint, or "
                         "start a run from it with --init and a new --checkpoint")


def init_weights(path: str, names: list) -> dict:
    """The network weights of an --init file for the styles `names`: the
    conditional instance norms' rows (one per style) are taken by name when the
    file records its style names (a train.py checkpoint or an archive), else by
    index, which is printed. TrainError when they do not fit."""
    from export_seed import checkpoint_style_names, extract_state_dict
    from stylizer_training.export import ExportError, count_styles, load_archive_metadata
    obj = load_checkpoint(path, "--init file")
    try:
        state = extract_state_dict(obj)
        n = count_styles(state)
        saved = checkpoint_style_names(obj)
        if saved is None and isinstance(obj, torch.jit.ScriptModule):  # a serving archive
            styles = load_archive_metadata(path)["styles"]
            saved = [s["name"] for s in sorted(styles, key=lambda s: s["index"])]
    except (ExportError, OSError, RuntimeError, KeyError, TypeError) as e:
        raise TrainError(f"--init {path}: {e}")
    if saved is not None and len(saved) == n:
        unknown = [x for x in names if x not in saved]
        if unknown:
            raise TrainError(f"--init {path} has the styles {','.join(saved)}; --style-names "
                             f"{','.join(names)} names {','.join(unknown)}, which it does not "
                             "have (to start new styles from its rows by index, give --init a "
                             "bare state_dict, e.g. torch.save(ckpt['model'], 'init_sd.pt'))")
        rows = [saved.index(x) for x in names]
        if rows != list(range(n)):
            print(f"--init {path}: style rows taken by name (its styles {','.join(saved)}; "
                  f"this run's {','.join(names)})")
    else:
        if n != len(names):
            raise TrainError(f"--init {path} holds {n} styles and records no names; "
                             f"--style-names gives {len(names)} ({','.join(names)})")
        rows = list(range(n))
        print(f"note: --init {path} records no style names; its style rows are taken by "
              f"index: {', '.join(f'{i} -> {x}' for i, x in enumerate(names))}")
    state = dict(state)
    for prefix, _ in cin_names():
        key = f"{prefix}.embed.weight"
        if key in state:
            state[key] = state[key][rows]
    try:  # every key and shape, before the photos load
        FastStylizationNetwork(len(names)).load_state_dict(state)
    except RuntimeError as e:
        raise TrainError(f"--init {path}: not a FastStylizationNetwork state_dict: "
                         f"{' '.join(str(e).split())[:300]}")
    return state


def content_photos(args) -> list:
    """The training photos: those of --content less the photo list's held-out
    ones (by real path), or the photo list's. TrainError for a missing list,
    directory or photo, or none at all."""
    listfile = args.photos or DEFAULT_PHOTOS
    try:
        listed, heldout = read_photo_list(listfile)
    except (OSError, ValueError) as e:  # missing, or not text
        raise TrainError(f"cannot read the photo list {listfile}: "
                         f"{getattr(e, 'strerror', None) or e}")
    if args.content:
        try:
            found = list_images(args.content)
        except OSError as e:
            raise TrainError(f"--content: {e}")
        held = {os.path.realpath(p) for p in heldout}
        photos = [p for p in found if os.path.realpath(p) not in held]
        if len(photos) < len(found):
            print(f"left out {len(found) - len(photos)} held-out photo(s) of {listfile} "
                  "found under --content")
        if not photos:
            raise TrainError(f"--content {' '.join(args.content)}: no content photos"
                             + (" that are not held out" if found else ""))
        return photos
    missing = [p for p in listed if not os.path.isfile(p)]
    if missing:
        default = os.path.realpath(listfile) == os.path.realpath(DEFAULT_PHOTOS)
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise TrainError(f"content photo {missing[0]}{more} of {listfile} is missing: "
                         + ("run scripts/install-training-data.sh or give --content" if default
                            else "correct the list or give --content"))
    if not listed:
        raise TrainError(f"the photo list {listfile} lists no training photos")
    return listed


def changed_options(args, saved: dict) -> list:
    """'--opt (checkpoint: X, given: Y)' for each model option given on the
    command line with another value than the checkpoint's."""
    def show(value):
        return ",".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)
    changed = []
    for k in MODEL_OPTS:
        if k in args.given and k in saved and getattr(args, k) != saved[k]:
            changed.append(f"--{k.replace('_', '-')} (checkpoint: {show(saved[k])}, "
                           f"given: {show(getattr(args, k))})")
    return changed


def export(ckpt: dict, path: str, name: str) -> None:
    """Writes the serving archive of a checkpoint."""
    from stylizer_training.export import export_archive
    opts = ckpt["opts"]
    notes = {k: opts[k] for k in MODEL_OPTS if k in opts}
    notes.update(steps=ckpt["step"], train_seconds=round(ckpt.get("elapsed", 0.0)),
                 exported=datetime.datetime.utcnow().strftime("%Y-%m-%dT%H:%M:%SZ"))
    export_archive(ckpt["model"], opts["style_names"], path,
                   {"name": name, "source": "training/train.py", "training": notes})
    print(f"exported {len(opts['style_names'])} styles at step {ckpt['step']} to {path}")


def main(argv=None) -> int:
    args = parse_args(argv)
    from stylizer_training.export import ExportError
    try:
        return train(args)
    except (TrainError, ExportError) as e:
        print(f"train: error: {e}", file=sys.stderr)
        return 2


def train(args) -> int:
    torch.set_num_threads(args.threads)
    ckpt = load_checkpoint(args.checkpoint, "checkpoint") if os.path.exists(args.checkpoint) \
        else None
    if ckpt is not None:
        check_train_checkpoint(ckpt, args.checkpoint)
    if args.export_only:
        if ckpt is None:
            raise TrainError(f"no checkpoint {args.checkpoint}")
        export(ckpt, args.export, args.name)
        return 0
    if not args.styles:
        raise TrainError("--styles is required for training")
    if ckpt is not None:
        started_from = ckpt["opts"].get("init")
        if args.init and "init" not in ckpt["opts"]:
            # Checkpoints written before the start was recorded: the
            # multi-stage commands resume them with their --init as given.
            print(f"note: checkpoint {args.checkpoint} does not record what it was started "
                  f"from; resuming it, --init {args.init} is not read")
        elif args.init and not (started_from and os.path.realpath(started_from)
                                == os.path.realpath(args.init)):
            raise TrainError(f"--init {args.init}: checkpoint {args.checkpoint} exists and "
                             "was not started from it; resuming would ignore --init, so "
                             "give a new --checkpoint to start from it")
        changed = changed_options(args, ckpt["opts"])
        if changed:
            raise TrainError(f"checkpoint {args.checkpoint} was trained with other options: "
                             f"{'; '.join(changed)}; resuming keeps the checkpoint's, so give "
                             "its values (or leave them out), or a new --checkpoint")

    opts = {
        "size": args.size, "style_size": args.style_size, "batch": args.batch, "lr": args.lr,
        "loss_net": args.loss_net, "stat": args.stat,
        "loss_seeds": args.loss_seeds,
        "loss_weights": args.loss_weights, "loss_width": args.loss_width,
        "style_weight": args.style_weight, "rgb_weight": args.rgb_weight,
        "content_weight": args.content_weight, "content_tap": args.content_tap,
        "tv_weight": args.tv_weight, "loss_pool": args.loss_pool,
        "noise_weight": args.noise_weight, "noise_sigma": args.noise_sigma,
        "equivariance_weight": args.equivariance_weight,
        "framediff_weight": args.framediff_weight, "spectral_weight": args.spectral_weight,
        "motion_shift": args.motion_shift, "motion_zoom": args.motion_zoom,
        "motion_rotate": args.motion_rotate,
        "crop_min": args.crop_min, "seed": args.seed,
        "style_names": args.style_names, "init": args.init,
    }
    if ckpt is not None:
        for k in MODEL_OPTS:  # a resumed run trains the same thing
            if k in ckpt["opts"]:
                opts[k] = ckpt["opts"][k]
        opts["init"] = ckpt["opts"].get("init")
    opts["steps"] = args.steps

    # Every input is read and checked before the training starts.
    n_taps = count_taps(opts["loss_net"], opts["loss_weights"])
    if opts["content_weight"] > 0 and not 0 <= opts["content_tap"] < n_taps:
        raise TrainError(f"--content-tap {opts['content_tap']}: the {opts['loss_net']} loss "
                         f"network has {n_taps} taps (0 to {n_taps - 1})")
    if opts["loss_weights"] and not os.path.isfile(opts["loss_weights"]):
        raise TrainError(f"--loss-weights: no file {opts['loss_weights']}")
    init = init_weights(args.init, opts["style_names"]) if ckpt is None and args.init else None
    photos = content_photos(args)
    try:
        paintings = load_paintings(find_styles(args.styles, opts["style_names"]),
                                   opts["style_size"])
        trainer = Trainer(opts, photos, paintings)
    except (OSError, ValueError) as e:  # a missing painting, an unreadable photo or weights
        raise TrainError(str(e))
    if ckpt is not None:
        trainer.load_state(ckpt)
        print(f"resumed {args.checkpoint} at step {trainer.step} "
              f"({format_eta(trainer.elapsed)} trained)")
    elif init is not None:
        trainer.net.load_state_dict(init)
        print(f"initialised from {args.init}")
    print(f"training {len(paintings)} styles on {len(photos)} photos: {opts['steps']} steps, "
          f"batch {opts['batch']}, {opts['size']} px, loss {opts['loss_net']}/{opts['stat']}",
          flush=True)
    finished = trainer.run(args.checkpoint, args.checkpoint_every)
    if finished and args.export:
        export(trainer.state(), args.export, args.name)
    return 0 if finished else 130


if __name__ == "__main__":
    sys.exit(main())
