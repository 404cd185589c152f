"""Reading the content-photo list and the style paintings of a training run."""
import os
from typing import List, Sequence, Tuple

import torch

from .images import list_images, load_rgb

STYLE_NAMES = ("klimt", "mosaic", "outcry", "picasso", "point", "van_gogh", "warhol", "waves")


def read_photo_list(path: str) -> Tuple[List[str], List[str]]:
    """A photo list file -> (training photos, held-out photos).

    One path per line; '#' starts a comment; a line "heldout PATH" marks a
    photo kept out of training for the evaluation. Relative paths are taken
    from the list file's directory.
    """
    train, heldout = [], []
    base = os.path.dirname(os.path.abspath(path))
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            held = line.startswith("heldout ")
            p = line[len("heldout "):].strip() if held else line
            p = p if os.path.isabs(p) else os.path.join(base, p)
            (heldout if held else train).append(p)
    return train, heldout


def find_styles(style_dir: str, names: Sequence[str]) -> List[str]:
    """Painting file for each style name (`<name>.jpg|jpeg|png` in style_dir)."""
    files = {os.path.splitext(os.path.basename(p))[0]: p for p in list_images([style_dir])}
    missing = [n for n in names if n not in files]
    if missing:
        raise FileNotFoundError(f"{style_dir}: no painting for style(s) {', '.join(missing)}")
    return [files[n] for n in names]


def load_paintings(paths: Sequence[str], short_side: int) -> List[torch.Tensor]:
    """Paintings as [3, H, W] tensors with their shorter side resized to short_side."""
    from .images import resize_short
    return [resize_short(load_rgb(p), short_side) for p in paths]
