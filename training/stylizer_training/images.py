"""Image files for training and evaluation: listing, loading, resizing, crops."""
import os
import random
from typing import List, Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".webp", ".bmp")


def list_images(dirs: Sequence[str], exclude: Sequence[str] = ()) -> List[str]:
    """Image files under the given directories (recursive) or files, sorted.

    A file whose base name (without extension) is in `exclude` is skipped.
    """
    skip = {os.path.splitext(os.path.basename(e))[0] for e in exclude}
    out = []
    for d in dirs:
        if os.path.isfile(d):
            out.append(d)
            continue
        if not os.path.isdir(d):
            raise FileNotFoundError(f"no such image file or directory: {d}")
        for root, _, files in os.walk(d):
            for f in files:
                if f.lower().endswith(IMAGE_EXTS):
                    out.append(os.path.join(root, f))
    out = [p for p in sorted(set(out))
           if os.path.splitext(os.path.basename(p))[0] not in skip]
    return out


def _wide_grey_to_8bit(im: Image.Image, path: str) -> Image.Image:
    """A 16-bit, 32-bit integer or float greyscale image (Pillow modes I;16*,
    I, F) as 8-bit "L", scaled rather than clipped: integers from 0..65535
    (16-bit files open as I or I;16), floats from [0, 1]. ValueError for
    values outside those ranges, whose scale is unknown."""
    arr = np.asarray(im).astype(np.float64)
    lo, hi = (float(arr.min()), float(arr.max())) if arr.size else (0.0, 0.0)
    top = 1.0 if im.mode == "F" else 65535.0
    if not (np.isfinite(arr).all() and lo >= 0 and hi <= top):
        raise ValueError(f"{path}: {im.mode} greyscale image with values {lo:g}..{hi:g}, "
                         f"outside 0..{top:g}; convert it to an 8- or 16-bit image")
    return Image.fromarray(np.round(arr * (255.0 / top)).astype(np.uint8), "L")


def load_rgb(path: str, max_side: Optional[int] = None) -> torch.Tensor:
    """Image file -> float tensor [3, H, W] in [0, 1]; optional downscale.
    16-bit and float greyscale images are scaled to [0, 1] (8-bit levels)."""
    with Image.open(path) as im:
        if max_side:
            im.draft("RGB", (max_side, max_side))  # JPEG: decode at a reduced scale
        if im.mode in ("I", "F") or im.mode.startswith("I;16"):
            im = _wide_grey_to_8bit(im, path)  # convert("RGB") would clip at 255
        im = im.convert("RGB")
        if max_side and max(im.size) > max_side:
            s = max_side / max(im.size)
            im = im.resize((max(1, round(im.size[0] * s)), max(1, round(im.size[1] * s))),
                           Image.LANCZOS)
        arr = np.asarray(im, dtype=np.uint8).copy()
    return torch.from_numpy(arr).permute(2, 0, 1).float() / 255.0


def resize_short(img: torch.Tensor, short: int) -> torch.Tensor:
    """Resizes [3, H, W] so that its shorter side is `short` (area/bilinear)."""
    h, w = img.shape[1:]
    s = short / min(h, w)
    size = (max(1, round(h * s)), max(1, round(w * s)))
    mode = "area" if s < 1 else "bilinear"
    kw = {} if mode == "area" else {"align_corners": False}
    return F.interpolate(img[None], size=size, mode=mode, **kw)[0].clamp(0, 1)


def center_crop(img: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """Resizes (cover) and centre-crops [3, H, W] to exactly [3, h, w]."""
    ih, iw = img.shape[1:]
    s = max(h / ih, w / iw)
    img = F.interpolate(img[None], size=(max(h, round(ih * s)), max(w, round(iw * s))),
                        mode="area" if s < 1 else "bilinear",
                        **({} if s < 1 else {"align_corners": False}))[0]
    top = (img.shape[1] - h) // 2
    left = (img.shape[2] - w) // 2
    return img[:, top:top + h, left:left + w].clamp(0, 1)


def random_crop(img: torch.Tensor, size: int, rng: random.Random,
                scale_range=(0.5, 1.0)) -> torch.Tensor:
    """A random square crop covering `scale` of the shorter side, resized to
    `size`, randomly flipped left-right."""
    _, h, w = img.shape
    side = int(min(h, w) * rng.uniform(*scale_range))
    side = max(min(size, min(h, w)), side)
    top = rng.randint(0, h - side)
    left = rng.randint(0, w - side)
    crop = img[:, top:top + side, left:left + side]
    crop = F.interpolate(crop[None], size=(size, size), mode="area" if side > size else "bilinear",
                         **({} if side > size else {"align_corners": False}))[0]
    if rng.random() < 0.5:
        crop = crop.flip(2)
    return crop.clamp(0, 1)


def save_rgb(img: torch.Tensor, path: str) -> None:
    """[3, H, W] in [0, 1] -> PNG/JPEG file (rounded to 8 bits)."""
    arr = (img.detach().clamp(0, 1) * 255).round().byte().permute(1, 2, 0).numpy()
    Image.fromarray(arr).save(path)
