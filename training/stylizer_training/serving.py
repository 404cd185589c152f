"""The serving form of the multi-style network: the module the exporter scripts.

`ServingNetwork` holds the same parameters under the same state_dict names as
`network.FastStylizationNetwork`, so an original checkpoint loads into it
unchanged, and computes the same function. Its interface is the serving one:

    forward(images [B,3,H,W] in [0,1], style_weights [B,N]) -> [B,3,H,W] in [0,1]

H and W must be multiples of 4 (the runtime pads). Each row of style weights is
normalised to sum 1; gamma and beta of every conditional instance norm are the
weighted sums of the styles' rows, so a one-hot row is exactly that style.

Written for speed on CPU and GPU (same result):
- each instance norm and its style's gamma/beta are one batch_norm call on
  the [1, B*C, H, W] view (per-image, per-channel statistics and the affine in
  one fused kernel, two passes over the tensor);
- "nearest x2 upsampling, reflect pad 1, 3x3 convolution" is computed on the
  small tensor as one 2x2 convolution with 4x the output channels (one per
  output phase) on a replicate-padded input, then interleaved: the same numbers
  up to summation order, 4 instead of 9 taps per output pixel (13 % less work
  for the whole network) and no upsampled or padded copy of the big tensor;
- the math runs in the dtype of `images` (fp32, bf16 or fp16): the runtime may
  cast the module and its input; gamma/beta stay fp32 and the norm kernels
  accumulate in fp32.
"""
from typing import List, Optional

import torch
import torch.nn.functional as F
from torch import nn

from .network import EPS, ONE_PAD, SAME_PAD, STYLE_PAD

# TorchScript cannot read module globals; these literals equal network.py's.
assert EPS == 1e-5 and ONE_PAD == (1, 1, 1, 1)
assert SAME_PAD == (0, 1, 0, 1) and STYLE_PAD == (4, 4, 4, 4)


def _pad(x: torch.Tensor, pad: List[int], mode: str) -> torch.Tensor:
    """F.pad(x, pad, mode) for mode "reflect" or "replicate", any dtype.

    LibTorch's CPU kernels of these pads take fp32/fp64 only; other dtypes on
    the CPU (bf16) gather columns and rows with index_select instead.
    """
    if x.is_cuda or x.dtype == torch.float32 or x.dtype == torch.float64:
        return F.pad(x, pad, mode=mode)
    h, w = x.shape[2], x.shape[3]
    cols = torch.arange(-pad[0], w + pad[1], device=x.device)
    rows = torch.arange(-pad[2], h + pad[3], device=x.device)
    if mode == "reflect":
        cols = (w - 1) - ((w - 1) - cols.abs()).abs()
        rows = (h - 1) - ((h - 1) - rows.abs()).abs()
    else:
        cols = cols.clamp(0, w - 1)
        rows = rows.clamp(0, h - 1)
    return x.index_select(3, cols).index_select(2, rows)


def _instance_norm(x: torch.Tensor, gamma: Optional[torch.Tensor],
                   beta: Optional[torch.Tensor]) -> torch.Tensor:
    """Instance norm of x [B,C,H,W], then per-(image, channel) gamma/beta [B,C].

    One batch_norm over the [1, B*C, H, W] view computes the statistics of
    every (image, channel) and applies the affine in one fused kernel.
    """
    b, c, h, w = x.shape
    if gamma is not None:
        gamma = gamma.reshape(-1)
    if beta is not None:
        beta = beta.reshape(-1)
    out = F.batch_norm(x.reshape(1, b * c, h, w), None, None, gamma, beta, True, 0.0, 1e-5)
    return out.view(b, c, h, w)


class ServingCIN(nn.Module):
    """Conditional instance norm with blended gamma/beta, fused into one kernel."""

    def __init__(self, num_features: int, n_styles: int):
        super().__init__()
        self.num_features = num_features
        # Same name and shape as the original's nn.Embedding ("<prefix>.embed.weight").
        self.embed = nn.Embedding(n_styles, num_features * 2)

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        c = self.num_features
        gb = torch.mm(w, self.embed.weight.float())  # [B, 2C], fp32
        return _instance_norm(x, gb[:, :c], gb[:, c:])


class ServingResidual(nn.Module):
    def __init__(self, channels: int, n_styles: int):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, stride=1, padding=0)
        self.instance_norm1 = ServingCIN(channels, n_styles)
        self.conv2 = nn.Conv2d(channels, channels, 3, stride=1, padding=0)
        self.instance_norm2 = ServingCIN(channels, n_styles)

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.conv1(_pad(x, [1, 1, 1, 1], "reflect")))
        out = self.instance_norm1(out, w)
        out = self.conv2(_pad(out, [1, 1, 1, 1], "reflect"))
        return self.instance_norm2(out, w) + x


class ServingUpsampling(nn.Module):
    """Nearest x2 upsampling, reflect pad 1, 3x3 conv, ReLU, instance norm.

    Keeps the original parameter `conv` (state_dict `<prefix>.conv.weight`,
    `.bias`). The sub-pixel kernels are derived from it in forward so that a
    loaded state_dict is always honoured; freezing folds them into constants.
    """

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.out_channels = out_channels
        self.conv = nn.Conv2d(in_channels, out_channels, 3, stride=1, padding=0)

    def subpixel_weight(self) -> torch.Tensor:
        """[4*O, I, 2, 2]: one 2x2 kernel per output phase (p, q), group 2p+q.

        Output row 2i+p of "upsample x2, reflect pad 1, 3x3 conv" reads input
        rows (i-1, i, i) for p = 0 and (i, i, i+1) for p = 1 (edges replicate),
        so on the replicate-padded input phase 0 is the 2x2 window at row i with
        kernel rows (k0, k1+k2) and phase 1 the window at row i+1 with rows
        (k0+k1, k2). The same holds for columns.
        """
        k = self.conv.weight
        rows = [torch.stack([k[:, :, 0], k[:, :, 1] + k[:, :, 2]], 2),
                torch.stack([k[:, :, 0] + k[:, :, 1], k[:, :, 2]], 2)]
        phases: List[torch.Tensor] = []
        for r in rows:
            phases.append(torch.stack([r[:, :, :, 0], r[:, :, :, 1] + r[:, :, :, 2]], 3))
            phases.append(torch.stack([r[:, :, :, 0] + r[:, :, :, 1], r[:, :, :, 2]], 3))
        return torch.cat(phases, 0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        o = self.out_channels
        bias = self.conv.bias
        assert bias is not None
        y = F.conv2d(_pad(x, [1, 1, 1, 1], "replicate"), self.subpixel_weight().to(x.dtype),
                     torch.cat([bias, bias, bias, bias]).to(x.dtype))
        y = torch.relu(y)  # [B, 4*O, H+1, W+1]
        b, h, w = y.shape[0], y.shape[2] - 1, y.shape[3] - 1
        out = torch.empty([b, o, h, 2, w, 2], dtype=y.dtype, device=y.device)
        out[:, :, :, 0, :, 0] = y[:, 0:o, 0:h, 0:w]
        out[:, :, :, 0, :, 1] = y[:, o:2 * o, 0:h, 1:w + 1]
        out[:, :, :, 1, :, 0] = y[:, 2 * o:3 * o, 1:h + 1, 0:w]
        out[:, :, :, 1, :, 1] = y[:, 3 * o:4 * o, 1:h + 1, 1:w + 1]
        return _instance_norm(out.view(b, o, 2 * h, 2 * w), None, None)


class ServingNetwork(nn.Module):
    """forward(images [B,3,H,W] in [0,1], style_weights [B,N]) -> [B,3,H,W] in [0,1]."""

    def __init__(self, n_styles: int):
        super().__init__()
        self.n_styles = n_styles
        self.conv1 = nn.Conv2d(3, 32, 9, stride=1, padding=0)
        self.instance_norm1 = ServingCIN(32, n_styles)
        self.conv2 = nn.Conv2d(32, 64, 3, stride=2, padding=0)
        self.instance_norm2 = ServingCIN(64, n_styles)
        self.conv3 = nn.Conv2d(64, 128, 3, stride=2, padding=0)
        self.instance_norm3 = ServingCIN(128, n_styles)
        self.residual1 = ServingResidual(128, n_styles)
        self.residual2 = ServingResidual(128, n_styles)
        self.residual3 = ServingResidual(128, n_styles)
        self.residual4 = ServingResidual(128, n_styles)
        self.residual5 = ServingResidual(128, n_styles)
        self.upsampling1 = ServingUpsampling(128, 64)
        self.upsampling2 = ServingUpsampling(64, 32)
        self.last_conv = nn.Conv2d(32, 3, 9, stride=1, padding=0)
        self.instance_norm_last = ServingCIN(3, n_styles)

    def forward(self, images: torch.Tensor, style_weights: torch.Tensor) -> torch.Tensor:
        # Normalised blend weights in fp32, whatever the image dtype.
        w = style_weights.float()
        w = w / w.sum(dim=1, keepdim=True)
        out = torch.relu(self.conv1(_pad(images, [4, 4, 4, 4], "reflect")))
        out = self.instance_norm1(out, w)
        out = torch.relu(self.conv2(_pad(out, [0, 1, 0, 1], "reflect")))
        out = self.instance_norm2(out, w)
        out = torch.relu(self.conv3(_pad(out, [0, 1, 0, 1], "reflect")))
        out = self.instance_norm3(out, w)
        out = self.residual1(out, w)
        out = self.residual2(out, w)
        out = self.residual3(out, w)
        out = self.residual4(out, w)
        out = self.residual5(out, w)
        out = self.upsampling1(out)
        out = self.upsampling2(out)
        out = self.last_conv(_pad(out, [4, 4, 4, 4], "reflect"))
        out = self.instance_norm_last(out, w)
        return torch.sigmoid(out)
