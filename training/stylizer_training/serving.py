"""The serving form of the multi-style network: the module the exporter scripts.

`ServingNetwork` holds the same parameters under the same state_dict names as
`network.FastStylizationNetwork`, so an original checkpoint loads into it
unchanged, and computes the same function. Its interface is the serving one:

    forward(images [B,3,H,W] in [0,1], style_weights [B,N]) -> [B,3,H,W] in [0,1]

H and W must be multiples of 4 (the runtime pads). Each row of style weights is
normalised to sum 1; gamma and beta of every conditional instance norm are the
weighted sums of the styles' rows, so a one-hot row is exactly that style.

Written for speed (same result up to float summation order):
- "nearest x2 upsampling, reflect pad 1, 3x3 convolution" is computed on the
  small tensor as one 2x2 convolution with 4x the output channels (one per
  output phase) on a replicate-padded input, then interleaved: 4 instead of 9
  taps per output pixel (13 % less work for the whole network) and no
  upsampled or padded copy of the big tensor;
- the last 9x9 convolution (32 -> 3 channels, badly shaped for vector units)
  runs on the 2x2 space-to-depth form of its input (128 -> 12 channels, 5x5);
- each instance norm and its style's gamma/beta are applied by one
  batch_norm pass;
- on the CPU, images go one at a time through a channels-last path: oneDNN
  convolutions read and write channels-last without reordering, batch_norm
  and the pads (copies into a preallocated buffer) are fastest there;
- on CUDA the batch goes through at once in NCHW; instance norms use the
  [1, B*C, H, W] view so that every image keeps its own statistics and style;
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


def _pad_cl(x: torch.Tensor, left: int, right: int, top: int, bottom: int,
            reflect: bool) -> torch.Tensor:
    """Reflect (or replicate) padding of x [1,C,H,W] into a channels-last buffer.

    One copy of the interior plus copies of the border rows and columns; works
    for every dtype (LibTorch's CPU pad kernels lack bf16).
    """
    b, c, h, w = x.shape
    buf = torch.empty((b, c, h + top + bottom, w + left + right), dtype=x.dtype,
                      device=x.device, memory_format=torch.channels_last)
    buf[:, :, top:top + h, left:left + w] = x
    for k in range(1, top + 1):
        buf[:, :, top - k, left:left + w] = x[:, :, k if reflect else 0]
    for k in range(1, bottom + 1):
        buf[:, :, top + h - 1 + k, left:left + w] = x[:, :, h - 1 - k if reflect else h - 1]
    for k in range(1, left + 1):
        buf[:, :, :, left - k] = buf[:, :, :, left + k if reflect else left]
    for k in range(1, right + 1):
        src = left + w - 1 - k if reflect else left + w - 1
        buf[:, :, :, left + w - 1 + k] = buf[:, :, :, src]
    return buf


def _norm_image(x: torch.Tensor, gamma: Optional[torch.Tensor],
                beta: Optional[torch.Tensor]) -> torch.Tensor:
    """Instance norm of one channels-last image x [1,C,H,W], then gamma/beta [C].

    LibTorch's channels-last batch_norm statistics lose precision on large
    planes, so the statistics come from fp32 row sums added up in fp64; the
    normalisation itself is batch_norm's (fast) channels-last inference pass.
    """
    h, w, c = x.shape[2], x.shape[3], x.shape[1]
    rows = x.float().permute(0, 2, 3, 1).reshape(h, w, c)
    mean = rows.sum(1).double().sum(0) / (h * w)
    # Two passes: the variance of the deviations from the mean. E[x^2] -
    # E[x]^2 from fp32 sums cancelled most of the variance of a plane whose
    # mean is large beside its spread (a dark or flat scene): 2-12 % of the
    # output levels of such frames differed from the original network's.
    # Squares then a sum: several times faster here than vector_norm, whose
    # reduction over the middle dimension LibTorch does not vectorise.
    d = rows - mean.float()
    var = (d * d).sum(1).double().sum(0) / (h * w)
    return F.batch_norm(x, mean.float(), var.float(), gamma, beta, False, 0.0, 1e-5)


def _norm_batch(x: torch.Tensor, gamma: Optional[torch.Tensor],
                beta: Optional[torch.Tensor]) -> torch.Tensor:
    """Instance norm of x [B,C,H,W] then per-(image, channel) gamma/beta [B,C]."""
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
        """x [B,C,H,W], w [B,N] normalised weights."""
        c = self.num_features
        gb = torch.mm(w, self.embed.weight.float())  # [B, 2C], fp32
        return _norm_batch(x, gb[:, :c], gb[:, c:])

    def image(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        """x [1,C,H,W] (any layout), w [1,N]."""
        c = self.num_features
        gb = torch.mm(w, self.embed.weight.float())[0]
        return _norm_image(x, gb[:c], gb[c:])


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
        return self.instance_norm2(out, w) + x

    def image(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        out = torch.relu_(self.conv1(_pad_cl(x, 1, 1, 1, 1, True)))
        out = self.instance_norm1.image(out, w)
        out = self.conv2(_pad_cl(out, 1, 1, 1, 1, True))
        return self.instance_norm2.image(out, w) + x


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

    def _phases(self, x: torch.Tensor, padded: torch.Tensor) -> torch.Tensor:
        """ReLU'd 2x2 convolution of all four phases: [B, 4*O, H+1, W+1].

        The phases add the 3x3 taps in different groupings, so on a flat
        input they differed by rounding, in a 2x2 pattern that the instance
        norm after (its variance far below eps) blew up into full-contrast
        texture on black frames, fades and title cards (the original network
        gives a flat frame). So each image's per-channel mean is taken out
        before the convolution and its share, bias + mean x the kernel's sum,
        the same for all four phases, added after: a flat input then gives
        four phases within rounding of a tiny remainder.
        """
        bias = self.conv.bias
        assert bias is not None
        mean = x.float().mean(dim=[2, 3])  # [B, I]
        share = bias.float() + torch.mm(mean, self.conv.weight.float().sum(dim=[2, 3]).t())
        y = F.conv2d(padded - mean.to(x.dtype)[:, :, None, None],
                     self.subpixel_weight().to(x.dtype))
        y = y + share.repeat(1, 4).to(x.dtype)[:, :, None, None]
        return torch.relu_(y)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        o = self.out_channels
        y = self._phases(x, F.pad(x, [1, 1, 1, 1], mode="replicate"))
        b, h, w = y.shape[0], y.shape[2] - 1, y.shape[3] - 1
        out = torch.empty([b, o, h, 2, w, 2], dtype=y.dtype, device=y.device)
        out[:, :, :, 0, :, 0] = y[:, 0:o, 0:h, 0:w]
        out[:, :, :, 0, :, 1] = y[:, o:2 * o, 0:h, 1:w + 1]
        out[:, :, :, 1, :, 0] = y[:, 2 * o:3 * o, 1:h + 1, 0:w]
        out[:, :, :, 1, :, 1] = y[:, 3 * o:4 * o, 1:h + 1, 1:w + 1]
        return _norm_batch(out.view(b, o, 2 * h, 2 * w), None, None)

    def image(self, x: torch.Tensor) -> torch.Tensor:
        """One image, channels-last in and out."""
        o = self.out_channels
        y = self._phases(x, _pad_cl(x, 1, 1, 1, 1, False))
        h, w = y.shape[2] - 1, y.shape[3] - 1
        out = torch.empty((1, o, 2 * h, 2 * w), dtype=y.dtype, device=y.device,
                          memory_format=torch.channels_last)
        # Channels-last memory of out is [h, 2, w, 2, o].
        grid = out.permute(0, 2, 3, 1).view(1, h, 2, w, 2, o)
        grid[:, :, 0, :, 0] = y[:, 0:o, 0:h, 0:w].permute(0, 2, 3, 1)
        grid[:, :, 0, :, 1] = y[:, o:2 * o, 0:h, 1:w + 1].permute(0, 2, 3, 1)
        grid[:, :, 1, :, 0] = y[:, 2 * o:3 * o, 1:h + 1, 0:w].permute(0, 2, 3, 1)
        grid[:, :, 1, :, 1] = y[:, 3 * o:4 * o, 1:h + 1, 1:w + 1].permute(0, 2, 3, 1)
        return _norm_image(out, None, None)


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
        if images.is_cuda:
            return self._batch(images, w)
        out = torch.empty_like(images, memory_format=torch.contiguous_format)
        for i in range(images.shape[0]):
            out[i:i + 1] = self._image(images[i:i + 1], w[i:i + 1])
        return out

    def _batch(self, images: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        """The whole batch at once, NCHW (for GPUs)."""
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
        out = F.pixel_unshuffle(F.pad(out, [4, 4, 4, 4], mode="reflect"), 2)
        return self._last(out, w, True)

    def _image(self, image: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        """One image [1,3,H,W], channels-last throughout (for CPUs)."""
        out = torch.relu_(self.conv1(_pad_cl(image, 4, 4, 4, 4, True)))
        out = self.instance_norm1.image(out, w)
        out = torch.relu_(self.conv2(_pad_cl(out, 0, 1, 0, 1, True)))
        out = self.instance_norm2.image(out, w)
        out = torch.relu_(self.conv3(_pad_cl(out, 0, 1, 0, 1, True)))
        out = self.instance_norm3.image(out, w)
        out = self.residual1.image(out, w)
        out = self.residual2.image(out, w)
        out = self.residual3.image(out, w)
        out = self.residual4.image(out, w)
        out = self.residual5.image(out, w)
        out = self.upsampling1.image(out)
        out = self.upsampling2.image(out)
        # Space-to-depth of the padded image in phase-major channel order
        # (r, s, i): channels-last memory [Y, r, X, s, i] -> [Y, X, r, s, i].
        padded = _pad_cl(out, 4, 4, 4, 4, True)
        c, hp, wp = padded.shape[1], padded.shape[2], padded.shape[3]
        s2d = torch.empty((1, hp // 2, wp // 2, 2, 2, c), dtype=padded.dtype,
                          device=padded.device)
        s2d.copy_(padded.permute(0, 2, 3, 1).view(1, hp // 2, 2, wp // 2, 2, c)
                  .permute(0, 1, 3, 2, 4, 5))
        out = s2d.view(1, hp // 2, wp // 2, 4 * c).permute(0, 3, 1, 2)
        return self._last(out, w, False)

    def _last(self, s2d: torch.Tensor, w: torch.Tensor, channel_major: bool) -> torch.Tensor:
        """last_conv, its CIN and the sigmoid on the 2x2 space-to-depth input.

        channel_major: input channels ordered (i, r, s) as pixel_unshuffle makes
        them, else (r, s, i). Output channel 4c+2p+q is pixel (2y+p, 2x+q) of
        channel c.
        """
        bias = self.last_conv.bias
        assert bias is not None
        weight = self.last_conv_s2d_weight(channel_major).to(s2d.dtype)
        out = F.conv2d(s2d, weight, bias.repeat_interleave(4).to(s2d.dtype)).contiguous()
        b, h2, w2 = out.shape[0], out.shape[2], out.shape[3]
        # Channel c's four phases are contiguous: normalise them as one plane.
        out = self.instance_norm_last(out.view(b, 3, 4 * h2, w2), w)
        return F.pixel_shuffle(torch.sigmoid(out.view(b, 12, h2, w2)), 2)

    def last_conv_s2d_weight(self, channel_major: bool) -> torch.Tensor:
        """last_conv's 9x9 kernel k as a 5x5 kernel on 2x2 space-to-depth planes.

        out[(o,p,q), y, x] = sum over (i,r,s), ky, kx of
        k[o, i, 2ky+r-p, 2kx+s-q] * in[(i,r,s), y+ky, x+kx] (0 outside 0..8).
        """
        k = F.pad(self.last_conv.weight, [1, 1, 1, 1])  # index 2k+r-p+1 in 0..10
        phase = torch.arange(2, device=k.device)
        taps = torch.arange(5, device=k.device)
        # [p, r, ky] -> row of k
        rows = 2 * taps.view(1, 1, 5) + phase.view(1, 2, 1) - phase.view(2, 1, 1) + 1
        iy = rows.view(2, 1, 2, 1, 5, 1)  # p, q, r, s, ky, kx
        ix = rows.view(1, 2, 1, 2, 1, 5)
        g = k[:, :, iy, ix]  # [O, I, p, q, r, s, ky, kx]
        o, i = g.shape[0], g.shape[1]
        if channel_major:
            g = g.permute(0, 2, 3, 1, 4, 5, 6, 7)  # O, p, q, I, r, s
        else:
            g = g.permute(0, 2, 3, 4, 5, 1, 6, 7)  # O, p, q, r, s, I
        return g.reshape(o * 4, i * 4, 5, 5)
