"""Training terms that tie together the outputs of nearby inputs, so that a
per-frame network holds still in movies without any optical flow:

- noise stability (Eilertsen et al., CVPR 2019, single-frame regularisation):
  f(x + n) ~ f(x) for small sensor-like noise n;
- transform equivariance: f(T(x)) ~ T(f(x)) for small random shifts, zooms
  and rotations T (the motion a camera makes between two frames);
- frame-difference consistency on synthetic motion (Xu et al. 2021 style):
  the change of the output between x and a moved copy x' = T(x) + n follows the
  change of the input, (f(x') - f(x)) ~ (x' - x);
- stride energy (a spectral term against the fine grid): the share of the
  output's luminance spectral energy at periods 2 and 4 pixels (the network's
  strides) above the input's share.

The functions take tensors (and, for noise stability, the network as a
callable), so the trainer can share one extra forward pass between the
equivariance and frame-difference terms. Images are [B, 3, H, W] in [0, 1].
"""
import math
from typing import Callable, Optional, Tuple

import torch
import torch.nn.functional as F

Network = Callable[[torch.Tensor], torch.Tensor]


def add_noise(x: torch.Tensor, sigma: float, gen: Optional[torch.Generator] = None) -> torch.Tensor:
    """x plus Gaussian noise of standard deviation sigma (in [0, 1] units), clamped."""
    noise = torch.randn(x.shape, generator=gen, dtype=x.dtype) * sigma
    return (x + noise).clamp(0, 1)


def noise_stability_loss(net: Network, x: torch.Tensor, out: torch.Tensor, sigma: float,
                         gen: Optional[torch.Generator] = None) -> torch.Tensor:
    """Mean squared difference between net(x + noise) and out = net(x)."""
    return (net(add_noise(x, sigma, gen)) - out).pow(2).mean()


def random_motion(batch: int, max_shift: float, max_zoom: float, max_rot_deg: float,
                  size: Tuple[int, int], gen: Optional[torch.Generator] = None) -> torch.Tensor:
    """[B, 2, 3] affine matrices (affine_grid's normalised convention) of a
    random shift of up to max_shift pixels per axis, a zoom by a factor in
    [1 - max_zoom, 1 + max_zoom] and a rotation of up to max_rot_deg degrees
    about the centre, for images of size (H, W)."""
    h, w = size
    u = torch.rand(batch, 4, generator=gen) * 2 - 1
    zoom = 1 + u[:, 0] * max_zoom
    rot = u[:, 1] * math.radians(max_rot_deg)
    # Pixel shifts in normalised units (align_corners=False: 2 / side per pixel).
    tx, ty = u[:, 2] * max_shift * 2 / w, u[:, 3] * max_shift * 2 / h
    cos, sin = torch.cos(rot) / zoom, torch.sin(rot) / zoom
    # Normalised coordinates are anisotropic when H != W: rotate in pixel units.
    theta = torch.zeros(batch, 2, 3)
    theta[:, 0, 0] = cos
    theta[:, 0, 1] = -sin * h / w
    theta[:, 1, 0] = sin * w / h
    theta[:, 1, 1] = cos
    theta[:, 0, 2] = tx
    theta[:, 1, 2] = ty
    return theta


def warp(x: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    """x resampled (bilinear) through the affine matrices theta [B, 2, 3]."""
    grid = F.affine_grid(theta.to(x.dtype), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def valid_mask(theta: torch.Tensor, size: Tuple[int, int], margin: int) -> torch.Tensor:
    """[B, 1, H, W] mask of the pixels that a warp through theta fills from at
    least `margin` pixels inside the source (away from its border, where a
    network's padding makes f(T(x)) and T(f(x)) differ for any network)."""
    h, w = size
    ones = torch.zeros(len(theta), 1, h, w, dtype=theta.dtype)
    ones[:, :, margin:h - margin, margin:w - margin] = 1
    grid = F.affine_grid(theta, [len(theta), 1, h, w], align_corners=False)
    filled = F.grid_sample(ones, grid, mode="bilinear", padding_mode="zeros",
                           align_corners=False)
    return (filled > 0.999).to(theta.dtype)


def masked_mse(a: torch.Tensor, b: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean squared difference over the pixels where mask is 1 (all channels)."""
    count = mask.sum() * a.shape[1]
    return ((a - b).pow(2) * mask).sum() / count.clamp(min=1)


def equivariance_loss(out: torch.Tensor, out_moved: torch.Tensor, theta: torch.Tensor,
                      mask: torch.Tensor) -> torch.Tensor:
    """||f(T(x)) - T(f(x))||^2 over the valid pixels: out = f(x),
    out_moved = f(T(x)) (or of T(x) plus noise), theta the warp T."""
    return masked_mse(out_moved, warp(out, theta), mask)


def frame_difference_loss(x: torch.Tensor, x_moved: torch.Tensor, out: torch.Tensor,
                          out_moved: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """||(f(x') - f(x)) - (x' - x)||^2 over the valid pixels: the output may
    change between two frames only as much as the input does."""
    return masked_mse(out_moved - out, x_moved - x, mask)


def _luminance(x: torch.Tensor) -> torch.Tensor:
    return 0.299 * x[:, 0] + 0.587 * x[:, 1] + 0.114 * x[:, 2]


def stride_energy(x: torch.Tensor) -> torch.Tensor:
    """[B]: share of each image's luminance spectral energy (DC excluded) in
    the bins of periods 2 and 4 pixels along either axis (the measure of
    temporal.stride_energy_share, differentiable and batched)."""
    b, _, h, w = x.shape
    if h % 4 or w % 4:
        raise ValueError(f"stride energy needs sides that are multiples of 4, got {w}x{h}")
    y = _luminance(x)
    y = y - y.mean(dim=(1, 2), keepdim=True)
    spec = torch.fft.fft2(y)
    power = spec.real.pow(2) + spec.imag.pow(2)
    total = power.sum(dim=(1, 2)).clamp(min=1e-12)
    rows = torch.tensor([0, h // 4, h // 2, 3 * h // 4])
    cols = torch.tensor([0, w // 4, w // 2, 3 * w // 4])
    peaks = power[:, rows][:, :, cols].sum(dim=(1, 2))  # DC is 0 after centring
    return peaks / total


def stride_energy_loss(out: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
    """Mean excess of the output's stride energy share over its input's."""
    with torch.no_grad():
        floor = stride_energy(content)
    return (stride_energy(out) - floor).clamp(min=0).mean()
