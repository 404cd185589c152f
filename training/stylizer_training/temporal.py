"""Frame-to-frame measures of a stylization model: how much its outputs move
when its inputs barely do (see training/evaluate.py and docs/model-card.md).

Every measure takes `stylize`, a function from a batch [B, 3, H, W] in [0, 1]
to the stylized batch of the same shape (one style, or one blend), so that it
measures any per-frame model. Differences are in 8-bit grey levels.

- static flicker: one still photo repeated with independent sensor-like noise
  on every frame; mean |S_t - S_(t-1)| of the outputs, next to the same for the
  inputs;
- warping error with exact motion: a photo panned and zoomed by known
  sub-pixel amounts, so the true flow is known and no flow estimator is
  needed; mean |S_t - warp(S_(t-1))| over the pixels visible in both frames;
- flow-free ratio: mean |S_t - S_(t-1)| / mean |I_t - I_(t-1)| on real footage;
- grid energy: the share of the luminance's spectral energy at the network's
  stride periods (2 and 4 pixels), which is where an upsampling or pooling grid
  shows, for the output against the input.
"""
from typing import Callable, Dict, Iterable, List, Tuple

import torch
import torch.nn.functional as F

Stylize = Callable[[torch.Tensor], torch.Tensor]


def quantise(x: torch.Tensor) -> torch.Tensor:
    """Rounds to 8-bit levels in [0, 1], as a camera or a decoder would."""
    return (x.clamp(0, 1) * 255).round() / 255


def mean_abs_step(seq: torch.Tensor) -> float:
    """Mean |x_t - x_(t-1)| over a sequence [T, 3, H, W], in grey levels."""
    return float((seq[1:] - seq[:-1]).abs().mean() * 255)


def run_batched(stylize: Stylize, frames: torch.Tensor, batch: int = 8) -> torch.Tensor:
    """stylize() over [T, 3, H, W] in batches, outputs clamped to [0, 1]."""
    out = [stylize(frames[i:i + batch]).clamp(0, 1) for i in range(0, len(frames), batch)]
    return torch.cat(out)


def noisy_stills(photo: torch.Tensor, frames: int, sigma_grey: float,
                 seed: int = 7) -> torch.Tensor:
    """[frames, 3, H, W]: the photo with independent Gaussian noise of
    sigma_grey grey levels on every frame, quantised to 8 bits."""
    g = torch.Generator().manual_seed(seed)
    noise = torch.randn((frames,) + tuple(photo.shape), generator=g) * (sigma_grey / 255)
    return quantise(photo[None] + noise)


def static_flicker(stylize: Stylize, photo: torch.Tensor, frames: int = 60,
                   sigma_grey: float = 2.0) -> Dict[str, float]:
    """Static flicker of the outputs and of the inputs (grey levels), their
    ratio, and the noisy inputs' outputs (for the grid measure)."""
    inputs = noisy_stills(photo, frames, sigma_grey)
    outputs = run_batched(stylize, inputs)
    out, inp = mean_abs_step(outputs), mean_abs_step(inputs)
    return {"output": out, "input": inp, "ratio": out / inp, "outputs": outputs}


def _pixel_grid(h: int, w: int) -> Tuple[torch.Tensor, torch.Tensor]:
    ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float64),
                            torch.arange(w, dtype=torch.float64), indexing="ij")
    return xs, ys


def _sample(img: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Bilinear samples of img [C, H, W] at pixel coordinates x, y [h, w]."""
    h, w = img.shape[1:]
    grid = torch.stack([2 * x / (w - 1) - 1, 2 * y / (h - 1) - 1], dim=-1)
    return F.grid_sample(img[None], grid[None].to(img.dtype), mode="bilinear",
                         padding_mode="border", align_corners=True)[0]


class PanZoom:
    """A camera over a larger source photo: frame t shows the source point
    q = centre + d_t + (p - c) / z_t for output pixel p, where c is the
    frame's centre, d_t = t * pan (pixels) and z_t = zoom ** t."""

    def __init__(self, source_hw: Tuple[int, int], frame_hw: Tuple[int, int],
                 pan: Tuple[float, float] = (0.37, 0.21), zoom: float = 1.0035):
        self.source_hw, self.frame_hw = source_hw, frame_hw
        self.pan, self.zoom = pan, zoom

    def source_point(self, t: int, x: torch.Tensor, y: torch.Tensor):
        (sh, sw), (h, w) = self.source_hw, self.frame_hw
        z = self.zoom ** t
        qx = (sw - 1) / 2 + t * self.pan[0] + (x - (w - 1) / 2) / z
        qy = (sh - 1) / 2 + t * self.pan[1] + (y - (h - 1) / 2) / z
        return qx, qy

    def frame_point(self, t: int, qx: torch.Tensor, qy: torch.Tensor):
        """Inverse of source_point: where source point q lies in frame t."""
        (sh, sw), (h, w) = self.source_hw, self.frame_hw
        z = self.zoom ** t
        x = (w - 1) / 2 + (qx - (sw - 1) / 2 - t * self.pan[0]) * z
        y = (h - 1) / 2 + (qy - (sh - 1) / 2 - t * self.pan[1]) * z
        return x, y

    def render(self, source: torch.Tensor, frames: int) -> torch.Tensor:
        """[frames, 3, h, w] frames of the source, quantised to 8 bits."""
        xs, ys = _pixel_grid(*self.frame_hw)
        out = [_sample(source, *self.source_point(t, xs, ys)) for t in range(frames)]
        return quantise(torch.stack(out))

    def previous_frame_coords(self, t: int):
        """For every pixel of frame t, its position in frame t-1 (the exact
        backward flow) and the mask of pixels visible in both frames."""
        h, w = self.frame_hw
        xs, ys = _pixel_grid(h, w)
        px, py = self.frame_point(t - 1, *self.source_point(t, xs, ys))
        visible = (px >= 0) & (px <= w - 1) & (py >= 0) & (py <= h - 1)
        return px, py, visible


def warping_error(frames: torch.Tensor, camera: PanZoom) -> float:
    """Mean |f_t - warp(f_(t-1))| over pixels visible in both frames, in grey
    levels, for a sequence rendered by `camera`."""
    total, count = 0.0, 0
    for t in range(1, len(frames)):
        px, py, visible = camera.previous_frame_coords(t)
        warped = _sample(frames[t - 1], px, py)
        diff = (frames[t] - warped).abs().mean(0)
        total += float(diff[visible].sum())
        count += int(visible.sum())
    return total / max(count, 1) * 255


def motion_warping_error(stylize: Stylize, source: torch.Tensor, frame_hw: Tuple[int, int],
                         frames: int = 30) -> Dict[str, float]:
    """Warping error of the outputs and of the inputs (the interpolation floor)
    on a pan-and-zoom over `source` (which must be larger than frame_hw)."""
    camera = PanZoom(tuple(source.shape[1:]), frame_hw)
    inputs = camera.render(source, frames)
    outputs = run_batched(stylize, inputs)
    out, inp = warping_error(outputs, camera), warping_error(inputs, camera)
    return {"output": out, "input": inp}


def flow_free_ratio(stylize: Stylize, frames: torch.Tensor) -> Dict[str, float]:
    """mean |S_t - S_(t-1)| / mean |I_t - I_(t-1)| on real frames [T, 3, H, W]."""
    outputs = run_batched(stylize, frames)
    out, inp = mean_abs_step(outputs), mean_abs_step(frames)
    return {"output": out, "input": inp, "ratio": out / max(inp, 1e-9)}


def stride_energy_share(img: torch.Tensor) -> float:
    """Share of the luminance's spectral energy (DC excluded) in the bins of
    periods 2 and 4 pixels along either axis (H and W multiples of 4)."""
    h, w = img.shape[1:]
    if h % 4 or w % 4:
        raise ValueError(f"grid energy needs sides that are multiples of 4, got {w}x{h}")
    y = 0.299 * img[0] + 0.587 * img[1] + 0.114 * img[2]
    power = torch.fft.fft2((y - y.mean()).double()).abs().pow(2)
    total = float(power.sum() - power[0, 0])
    rows = [0, h // 4, h // 2, 3 * h // 4]
    cols = [0, w // 4, w // 2, 3 * w // 4]
    peaks = sum(float(power[r, c]) for r in rows for c in cols if (r, c) != (0, 0))
    return peaks / max(total, 1e-30)


def grid_energy(inputs: Iterable[torch.Tensor], outputs: Iterable[torch.Tensor]) -> Dict[str, float]:
    """Mean stride-period energy share of outputs and inputs, and the ratio."""
    ins: List[float] = [stride_energy_share(i) for i in inputs]
    outs: List[float] = [stride_energy_share(o) for o in outputs]
    i, o = sum(ins) / len(ins), sum(outs) / len(outs)
    return {"output": o, "input": i, "ratio": o / max(i, 1e-30)}
