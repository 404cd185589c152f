"""Serving archives seen from Python: load one, stylize with one style."""
import json
from typing import List, Tuple

import torch

from .temporal import Stylize


def load_archive(path: str) -> Tuple[torch.jit.ScriptModule, List[str]]:
    """(scripted module in eval mode, style names in index order) of an archive."""
    extra = {"stylizer/styles.json": ""}
    module = torch.jit.load(path, map_location="cpu", _extra_files=extra)
    styles = json.loads(extra["stylizer/styles.json"])
    return module.eval(), [s["name"] for s in sorted(styles, key=lambda s: s["index"])]


def style_function(module, n_styles: int, style: int) -> Stylize:
    """batch [B, 3, H, W] -> the batch in style `style` (no gradients)."""
    row = torch.zeros(n_styles)
    row[style] = 1.0

    @torch.no_grad()
    def stylize(batch: torch.Tensor) -> torch.Tensor:
        return module(batch.contiguous(), row.expand(len(batch), -1).contiguous())
    return stylize
