#!/usr/bin/env python3
"""Converts a checkpoint of the original multi-style network into a serving archive.

    python3 training/export_seed.py --checkpoint CKPT --out ARCHIVE.pt [--names a,b,...]
    python3 training/export_seed.py --random N --out ARCHIVE.pt [--seed S]
    python3 training/export_seed.py --archive OLD.pt --out ARCHIVE.pt

CKPT is a PyTorch file holding the state_dict of FastStylizationNetwork, or a
dict holding it under a common key ("state_dict", "model", "model_state_dict",
"network", "net", "style_model"); "module." prefixes (DataParallel) are
stripped and fp16/bf16 weights are converted to fp32. The style names are
--names, else those a train.py checkpoint saved, else the original's. --random N makes a
randomly initialised N-style archive for tests, with gamma/beta spread wide
enough that the styles differ visibly. --archive re-exports a serving archive
with the current serving code: its weights, style names and metadata are kept.
"""
import argparse
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from stylizer_training.export import (ExportError, check_zip_members,  # noqa: E402
                                      count_styles, default_style_names, export_archive,
                                      split_style_names, load_archive_metadata)
from stylizer_training.network import FastStylizationNetwork  # noqa: E402

CONTAINER_KEYS = ("state_dict", "model_state_dict", "model", "network", "net", "style_model")


def checkpoint_style_names(obj):
    """The style names a train.py checkpoint saved (its opts), else None."""
    if isinstance(obj, dict) and isinstance(obj.get("opts"), dict):
        names = obj["opts"].get("style_names")
        if isinstance(names, (list, tuple)) and all(isinstance(n, str) for n in names):
            return list(names)
    return None


def extract_state_dict(obj) -> dict:
    """Finds the network's state_dict inside a loaded checkpoint object."""
    if isinstance(obj, torch.nn.Module):
        obj = obj.state_dict()
    if not isinstance(obj, dict):
        raise ExportError(f"checkpoint holds a {type(obj).__name__}, not a state_dict")
    if "instance_norm1.embed.weight" not in obj and not any(
            k.startswith("module.") for k in obj):
        for key in CONTAINER_KEYS:
            if key in obj:
                return extract_state_dict(obj[key])
        raise ExportError("checkpoint has no FastStylizationNetwork state_dict; top-level "
                          f"keys: {sorted(map(str, obj))[:10]}")
    return {k[len("module."):] if k.startswith("module.") else k: v for k, v in obj.items()}


def random_state_dict(n_styles: int, seed: int) -> dict:
    """A randomly initialised network whose styles differ clearly."""
    torch.manual_seed(seed)
    net = FastStylizationNetwork(n_styles)
    with torch.no_grad():
        for name, tensor in net.state_dict().items():
            if name.endswith("embed.weight"):
                c = tensor.shape[1] // 2
                tensor[:, :c].normal_(1.0, 0.3)
                tensor[:, c:].normal_(0.0, 0.3)
    return net.state_dict()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--checkpoint", help="state_dict file of FastStylizationNetwork")
    source.add_argument("--archive", help="a serving archive to export again with the "
                        "current serving code (weights, names and metadata kept)")
    source.add_argument("--random", type=int, metavar="N",
                        help="random N-style network (for tests)")
    parser.add_argument("--out", required=True, help="archive to write (.pt)")
    parser.add_argument("--names", help="comma-separated style names in index order "
                        "(default: those a train.py checkpoint saved, else the original's names, "
                        "or style0, style1, ...)")
    parser.add_argument("--name", help="model name in model.json (default: file stem)")
    parser.add_argument("--source", help="where the weights came from (model.json)")
    parser.add_argument("--seed", type=int, default=0, help="seed for --random (default 0)")
    args = parser.parse_args(argv)

    try:
        if args.archive is not None:
            check_zip_members(args.archive, "archive", "copy the file again, or export it "
                              "from its checkpoint (--checkpoint)")
            try:
                module = torch.jit.load(args.archive, map_location="cpu")
                saved = load_archive_metadata(args.archive)
            except Exception as e:  # a missing, damaged or foreign file
                raise ExportError(f"cannot read archive {args.archive}: {e}")
            state_dict = {k: v.float() for k, v in module.state_dict().items()}
            n_styles = count_styles(state_dict)
            names = split_style_names(args.names) if args.names else [
                s["name"] for s in sorted(saved["styles"], key=lambda s: s["index"])]
            metadata = {k: v for k, v in saved["model"].items()
                        if k not in ("architecture", "num_styles", "interface")}
            if args.name:
                metadata["name"] = args.name
            if args.source:
                metadata["source"] = args.source
            export_archive(state_dict, names, args.out, metadata)
            print(f"wrote {args.out}: {n_styles} styles ({', '.join(names)})")
            return 0
        if args.random is not None:
            if args.random < 1:
                raise ExportError("--random needs at least one style")
            state_dict = random_state_dict(args.random, args.seed)
            source = args.source or f"random initialisation, seed {args.seed}"
            training = "untrained (random weights, for tests)"
        else:
            check_zip_members(args.checkpoint, "checkpoint", "copy the file again")
            try:
                loaded = torch.load(args.checkpoint, map_location="cpu")
            except FileNotFoundError:
                raise ExportError(f"checkpoint {args.checkpoint} does not exist")
            except Exception as e:  # pickle, zip and torch errors alike
                raise ExportError(f"cannot read checkpoint {args.checkpoint}: {e}")
            state_dict = extract_state_dict(loaded)
            saved_names = checkpoint_style_names(loaded)
            source = args.source or os.path.basename(args.checkpoint)
            training = "converted from a FastStylizationNetwork checkpoint"
        n_styles = count_styles(state_dict)
        if args.names:
            names = split_style_names(args.names)
        elif args.random is None and saved_names is not None:
            names = saved_names  # a train.py checkpoint knows its styles
        else:
            names = default_style_names(n_styles)
        metadata = {"source": source, "training": training}
        if args.name:
            metadata["name"] = args.name
        export_archive(state_dict, names, args.out, metadata)
    except ExportError as e:
        print(f"export_seed: error: {e}", file=sys.stderr)
        return 2
    print(f"wrote {args.out}: {n_styles} styles ({', '.join(names)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
