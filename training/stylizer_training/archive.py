"""Serving archives seen from Python: load one, stylize with one style."""
import json
import os
from typing import List, Tuple

import torch

from .export import ExportError, check_zip_members
from .temporal import Stylize

MIN_SIDE = 8  # the runtime's smallest padded side (server/model/torch_util.h)


def load_archive(path: str) -> Tuple[torch.jit.ScriptModule, List[str]]:
    """(scripted module in eval mode, style names in index order) of an archive;
    ExportError for one whose zip members fail their CRC-32, and for a missing
    file or one that is not a serving archive."""
    if not os.path.isfile(path):
        raise ExportError(f"archive {path} does not exist")
    check_zip_members(path, "archive", "copy the file again, or export it again")
    extra = {"stylizer/styles.json": ""}
    try:
        module = torch.jit.load(path, map_location="cpu", _extra_files=extra)
        styles = json.loads(extra["stylizer/styles.json"])
        names = [s["name"] for s in sorted(styles, key=lambda s: s["index"])]
    except Exception as e:  # torch, zip and JSON errors alike
        raise ExportError(f"cannot read archive {path}: {e}")
    return module.eval(), names


def reflect_index(n: int, padded: int) -> torch.Tensor:
    """Indices padding a side of n to `padded` by reflection about the last
    sample, repeated where the pad is longer than the side (a 1-pixel side
    repeats): the runtime's ReflectIndex (server/model/torch_util.cc)."""
    period = 2 * (n - 1)
    index = []
    for j in range(padded):
        if j < n or period == 0:
            index.append(min(j, n - 1))
        else:
            m = j % period
            index.append(m if m < n else period - m)
    return torch.tensor(index, dtype=torch.long)


def run_archive(module, batch: torch.Tensor, style_weights: torch.Tensor) -> torch.Tensor:
    """The archive on a batch [B, 3, H, W] of any H and W: the archive takes
    multiples of 4 (at least 8), so the batch is padded by reflection on the
    right and bottom and the output cropped back, as the server's runtime does
    (docs/model-runtime.md, The network)."""
    h, w = batch.shape[-2:]
    ph, pw = max(MIN_SIDE, (h + 3) // 4 * 4), max(MIN_SIDE, (w + 3) // 4 * 4)
    if ph != h:
        batch = batch.index_select(-2, reflect_index(h, ph))
    if pw != w:
        batch = batch.index_select(-1, reflect_index(w, pw))
    return module(batch.contiguous(), style_weights.contiguous())[..., :h, :w]


def style_function(module, n_styles: int, style: int) -> Stylize:
    """batch [B, 3, H, W] (any H and W) -> the batch in style `style` (no
    gradients)."""
    row = torch.zeros(n_styles)
    row[style] = 1.0

    @torch.no_grad()
    def stylize(batch: torch.Tensor) -> torch.Tensor:
        return run_archive(module, batch, row.expand(len(batch), -1))
    return stylize
