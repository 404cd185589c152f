"""The multi-style network (Dumoulin et al. 2017) exactly as the original
PyTorch code defines it, plus the serving form that the exporter scripts.

`FastStylizationNetwork` keeps the original module names, so a user's
`state_dict` loads into it unchanged (see docs/model-runtime.md, The network, for the layer table).
`ServingNetwork` has the same parameters and computes the same function, but
takes a row of style weights per image instead of a style index and fuses each
instance norm with its style's gamma/beta into one pass.
"""
from typing import List, Tuple

import torch
import torch.nn.functional as F
from torch import nn

EPS = 1e-5
STYLE_PAD = (4, 4, 4, 4)  # 9x9 convolutions
SAME_PAD = (0, 1, 0, 1)  # TensorFlow SAME for the 3x3 stride-2 convolutions
ONE_PAD = (1, 1, 1, 1)  # 3x3 stride-1 convolutions


class CategoricalConditionalInstanceNorm2d(nn.Module):
    """Instance norm followed by a per-style affine (gamma, beta) lookup."""

    def __init__(self, num_features: int, n_styles: int):
        super().__init__()
        self.num_features = num_features
        self.instance_norm = nn.InstanceNorm2d(num_features, affine=False)
        self.embed = nn.Embedding(n_styles, num_features * 2)
        with torch.no_grad():
            self.embed.weight[:, :num_features].normal_(1, 0.02)
            self.embed.weight[:, num_features:].zero_()

    def forward(self, x, y):
        out = self.instance_norm(x)
        gamma, beta = self.embed(y).chunk(2, 1)
        return (gamma.view(-1, self.num_features, 1, 1) * out
                + beta.view(-1, self.num_features, 1, 1))


class ResidualBlock(nn.Module):
    def __init__(self, channels: int, n_styles: int):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, stride=1, padding=0)
        self.instance_norm1 = CategoricalConditionalInstanceNorm2d(channels, n_styles)
        self.conv2 = nn.Conv2d(channels, channels, 3, stride=1, padding=0)
        self.instance_norm2 = CategoricalConditionalInstanceNorm2d(channels, n_styles)

    def forward(self, x, y):
        out = self.conv1(F.pad(x, ONE_PAD, mode="reflect")).clamp(min=0)
        out = self.instance_norm1(out, y)
        out = self.conv2(F.pad(out, ONE_PAD, mode="reflect"))
        out = self.instance_norm2(out, y)
        return out + x


class UpsamplingBlock(nn.Module):
    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, 3, stride=1, padding=0)
        self.instance_norm = nn.InstanceNorm2d(out_channels, affine=False)

    def forward(self, x):
        out = F.interpolate(x, scale_factor=2, mode="nearest")
        out = self.conv(F.pad(out, ONE_PAD, mode="reflect")).clamp(min=0)
        return self.instance_norm(out)


class FastStylizationNetwork(nn.Module):
    """The original network: forward(x in [0,1] NCHW, y = style index per image)."""

    def __init__(self, n_styles: int):
        super().__init__()
        self.n_styles = n_styles
        self.conv1 = nn.Conv2d(3, 32, 9, stride=1, padding=0)
        self.instance_norm1 = CategoricalConditionalInstanceNorm2d(32, n_styles)
        self.conv2 = nn.Conv2d(32, 64, 3, stride=2, padding=0)
        self.instance_norm2 = CategoricalConditionalInstanceNorm2d(64, n_styles)
        self.conv3 = nn.Conv2d(64, 128, 3, stride=2, padding=0)
        self.instance_norm3 = CategoricalConditionalInstanceNorm2d(128, n_styles)
        self.residual1 = ResidualBlock(128, n_styles)
        self.residual2 = ResidualBlock(128, n_styles)
        self.residual3 = ResidualBlock(128, n_styles)
        self.residual4 = ResidualBlock(128, n_styles)
        self.residual5 = ResidualBlock(128, n_styles)
        self.upsampling1 = UpsamplingBlock(128, 64)
        self.upsampling2 = UpsamplingBlock(64, 32)
        self.last_conv = nn.Conv2d(32, 3, 9, stride=1, padding=0)
        self.instance_norm_last = CategoricalConditionalInstanceNorm2d(3, n_styles)

    def forward(self, x, y):
        out = self.conv1(F.pad(x, STYLE_PAD, mode="reflect")).clamp(min=0)
        out = self.instance_norm1(out, y)
        out = self.conv2(F.pad(out, SAME_PAD, mode="reflect")).clamp(min=0)
        out = self.instance_norm2(out, y)
        out = self.conv3(F.pad(out, SAME_PAD, mode="reflect")).clamp(min=0)
        out = self.instance_norm3(out, y)
        for block in (self.residual1, self.residual2, self.residual3,
                      self.residual4, self.residual5):
            out = block(out, y)
        out = self.upsampling1(out)
        out = self.upsampling2(out)
        out = self.last_conv(F.pad(out, STYLE_PAD, mode="reflect"))
        out = self.instance_norm_last(out, y)
        return torch.sigmoid(out)


def cin_names() -> List[Tuple[str, int]]:
    """State-dict prefixes of every conditional instance norm and its width."""
    names = [("instance_norm1", 32), ("instance_norm2", 64), ("instance_norm3", 128)]
    for i in range(1, 6):
        names += [(f"residual{i}.instance_norm1", 128), (f"residual{i}.instance_norm2", 128)]
    names.append(("instance_norm_last", 3))
    return names
