"""The serving form of the multi-style network: the module the exporter scripts.

`ServingNetwork` holds the same parameters under the same state_dict names as
`network.FastStylizationNetwork`, so an original checkpoint loads into it
unchanged, and computes the same function. Its interface is the serving one:

    forward(images [B,3,H,W] in [0,1], style_weights [B,N]) -> [B,3,H,W] in [0,1]

H and W must be multiples of 4 (the runtime pads). Each row of style weights is
normalised to sum 1; gamma and beta of every conditional instance norm are the
weighted sums of the styles' rows, so a one-hot row is exactly that style.

Written for speed on CPU and GPU (same result):
- each instance norm, its style's gamma/beta and (where one follows) the
  residual add are one scale/shift pass: x * (gamma / std) + (beta - mean *
  gamma / std), computed from one var_mean reduction;
- "nearest x2 upsampling, reflect pad 1, 3x3 convolution" is computed on the
  small tensor as one 2x2 convolution with 4x the output channels (one per
  output phase) on a replicate-padded input, then interleaved: the same numbers
  up to summation order, 4 instead of 9 taps per output pixel (13 % less work
  for the whole network) and no upsampled or padded copy of the big tensor;
- the math runs in the dtype of `images` (fp32, bf16 or fp16): the runtime may
  cast the module and its input; statistics of the instance norms are taken in
  fp32 for low-precision inputs.
"""
from typing import List

import torch
import torch.nn.functional as F
from torch import nn

from .network import EPS, ONE_PAD, SAME_PAD, STYLE_PAD

# TorchScript cannot read module globals; these literals equal network.py's.
assert EPS == 1e-5 and ONE_PAD == (1, 1, 1, 1)
assert SAME_PAD == (0, 1, 0, 1) and STYLE_PAD == (4, 4, 4, 4)


class ServingCIN(nn.Module):
    """Conditional instance norm with blended gamma/beta, fused into one pass."""

    def __init__(self, num_features: int, n_styles: int):
        super().__init__()
        self.num_features = num_features
        # Same name and shape as the original's nn.Embedding ("<prefix>.embed.weight").
        self.embed = nn.Embedding(n_styles, num_features * 2)

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        scale, shift = self.scale_shift(x, w)
        return torch.addcmul(shift, x, scale)

    def scale_shift(self, x: torch.Tensor, w: torch.Tensor):
        """Per (image, channel) scale and shift: x_out = x * scale + shift."""
        c = self.num_features
        gb = torch.mm(w, self.embed.weight.to(w.dtype))  # [B, 2C] in fp32
        gamma = gb[:, :c].reshape(-1, c, 1, 1)
        beta = gb[:, c:].reshape(-1, c, 1, 1)
        var, mean = torch.var_mean(x.float(), dim=[2, 3], unbiased=False, keepdim=True)
        scale = gamma * torch.rsqrt(var + 1e-5)
        shift = beta - mean * scale
        return scale.to(x.dtype), shift.to(x.dtype)


def _instance_norm(x: torch.Tensor) -> torch.Tensor:
    """Plain instance norm (no affine), statistics in fp32."""
    var, mean = torch.var_mean(x.float(), dim=[2, 3], unbiased=False, keepdim=True)
    scale = torch.rsqrt(var + 1e-5)
    return torch.addcmul((-mean * scale).to(x.dtype), x, scale.to(x.dtype))


class ServingResidual(nn.Module):
    def __init__(self, channels: int, n_styles: int):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, stride=1, padding=0)
        self.instance_norm1 = ServingCIN(channels, n_styles)
        self.conv2 = nn.Conv2d(channels, channels, 3, stride=1, padding=0)
        self.instance_norm2 = ServingCIN(channels, n_styles)

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.conv1(F.pad(x, [1, 1, 1, 1], mode="reflect")))
        out = self.instance_norm1(out, w)
        out = self.conv2(F.pad(out, [1, 1, 1, 1], mode="reflect"))
        scale, shift = self.instance_norm2.scale_shift(out, w)
        # out * scale + (shift + x): the norm, its affine and the skip in one pass.
        return torch.addcmul(x + shift, out, scale)


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
        y = F.conv2d(F.pad(x, [1, 1, 1, 1], mode="replicate"), self.subpixel_weight().to(x.dtype),
                     torch.cat([bias, bias, bias, bias]).to(x.dtype))
        y = torch.relu(y)  # [B, 4*O, H+1, W+1]
        b, h, w = y.shape[0], y.shape[2] - 1, y.shape[3] - 1
        out = torch.empty([b, o, h, 2, w, 2], dtype=y.dtype, device=y.device)
        out[:, :, :, 0, :, 0] = y[:, 0:o, 0:h, 0:w]
        out[:, :, :, 0, :, 1] = y[:, o:2 * o, 0:h, 1:w + 1]
        out[:, :, :, 1, :, 0] = y[:, 2 * o:3 * o, 1:h + 1, 0:w]
        out[:, :, :, 1, :, 1] = y[:, 3 * o:4 * o, 1:h + 1, 1:w + 1]
        return _instance_norm(out.view(b, o, 2 * h, 2 * w))


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
        out = torch.relu(self.conv1(F.pad(images, [4, 4, 4, 4], mode="reflect")))
        out = self.instance_norm1(out, w)
        out = torch.relu(self.conv2(F.pad(out, [0, 1, 0, 1], mode="reflect")))
        out = self.instance_norm2(out, w)
        out = torch.relu(self.conv3(F.pad(out, [0, 1, 0, 1], mode="reflect")))
        out = self.instance_norm3(out, w)
        out = self.residual1(out, w)
        out = self.residual2(out, w)
        out = self.residual3(out, w)
        out = self.residual4(out, w)
        out = self.residual5(out, w)
        out = self.upsampling1(out)
        out = self.upsampling2(out)
        out = self.last_conv(F.pad(out, [4, 4, 4, 4], mode="reflect"))
        out = self.instance_norm_last(out, w)
        return torch.sigmoid(out)
