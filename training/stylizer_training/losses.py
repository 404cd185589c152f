"""Loss networks and style statistics for the trainer and the evaluation.

A loss network maps an RGB batch in [0, 1] to a list of feature maps ("taps").
Style losses compare statistics of those maps with the painting's:

- `gram`: a Gram matrix per image (C x C, divided by C*H*W). The original's is
  one (B*C) x (B*C) matrix over the batch, divided by B*C*H*W.
- `centred`: feature covariance plus feature means, each normalised by the
  painting's own norm, so every layer counts about equally.
- `swd`: sliced Wasserstein distance between the feature distributions
  (random projections, sorted).

Networks: `VGG16Features` (torchvision's `features` layout; random
N(0, 2/fan_in) weights from a seed, or loaded from a torchvision-format weights
file) and `RandomFilterBank` (one layer of random filters at several scales).
Gram products run as 1x1 convolutions: this build's generic BLAS makes large
fp32 matrix products several times slower than the oneDNN convolution.
"""
import warnings
from typing import Dict, List, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import nn

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# torchvision's vgg16().features: numbers are conv widths, "M" is a max-pool.
VGG16_CFG = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512]
# Index in `features` of the ReLU after each named conv.
VGG16_RELU = {
    "relu1_1": 1, "relu1_2": 3, "relu2_1": 6, "relu2_2": 8, "relu3_1": 11,
    "relu3_2": 13, "relu3_3": 15, "relu4_1": 18, "relu4_2": 20, "relu4_3": 22,
}
# Taps of the original recipe (pretrained VGG-16) and of the random default.
PRETRAINED_TAPS = ("relu2_2", "relu3_2", "relu4_1", "relu4_3")
RANDOM_TAPS = ("relu1_2", "relu2_2", "relu3_3", "relu4_3")
# Filter sizes of the random filter bank: one tap each.
FILTER_SIZES = (3, 5, 7, 11, 15)


def gram(feat: torch.Tensor) -> torch.Tensor:
    """Per-image Gram matrices [B, C, C] of feat [B, C, H, W], divided by C*H*W."""
    b, c, h, w = feat.shape
    out = []
    for i in range(b):
        f = feat[i].reshape(c, h * w)
        # C images with H*W channels against C filters of H*W channels.
        g = F.conv2d(f.view(c, h * w, 1, 1), f.view(c, h * w, 1, 1))
        out.append(g.view(c, c))
    return torch.stack(out) / (c * h * w)


def mean_cov(feat: torch.Tensor):
    """Per-image channel means [B, C] and covariances [B, C, C] (divided by H*W)."""
    b, c, h, w = feat.shape
    mu = feat.mean(dim=(2, 3))
    centred = feat - mu.view(b, c, 1, 1)
    return mu, gram(centred) * c


class BlurMaxPool2d(nn.Module):
    """Anti-aliased max-pool (Zhang, ICML 2019): max over 2x2 windows at
    stride 1, then a [1, 2, 1] binomial blur, then every second pixel. A plain
    2x2 max-pool at stride 2 aliases: patterns of period 2 and 4 pixels change
    its output a lot or not at all depending on their phase."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = x.shape[1]
        x = F.max_pool2d(F.pad(x, (0, 1, 0, 1), mode="replicate"), 2, stride=1)
        k = torch.tensor([1.0, 2.0, 1.0], dtype=x.dtype, device=x.device)
        k = (k[:, None] * k[None, :] / 16).expand(c, 1, 3, 3).contiguous()
        return F.conv2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), k, stride=2, groups=c)


class VGG16Features(nn.Module):
    """VGG-16 `features` up to the deepest requested tap (torchvision layout).

    `weights`: path of a torchvision VGG-16 state_dict (`features.N.weight`
    keys; a whole-model file or a features-only file with `N.weight` keys both
    work); None gives random N(0, 2/fan_in) weights drawn from `seed`.
    `pool`: "max" (VGG's own) or "blur" (`BlurMaxPool2d`, anti-aliased).
    """

    def __init__(self, taps: Sequence[str] = RANDOM_TAPS, weights: Optional[str] = None,
                 seed: int = 0, width: float = 1.0, normalize: bool = True,
                 pool: str = "max"):
        super().__init__()
        self.tap_idx = [VGG16_RELU[t] for t in taps]
        last = max(self.tap_idx)
        layers: List[nn.Module] = []
        in_ch = 3
        for v in VGG16_CFG:
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2) if pool == "max" else BlurMaxPool2d())
            else:
                out_ch = max(1, int(v * width))
                layers += [nn.Conv2d(in_ch, out_ch, 3, padding=1), nn.ReLU(inplace=False)]
                in_ch = out_ch
        self.features = nn.Sequential(*layers[: last + 1])
        if weights:
            self.load_torchvision(weights)
        else:
            gen = torch.Generator().manual_seed(seed)
            for m in self.features:
                if isinstance(m, nn.Conv2d):
                    fan_in = m.in_channels * 9
                    with torch.no_grad():
                        m.weight.copy_(torch.randn(m.weight.shape, generator=gen)
                                       * (2.0 / fan_in) ** 0.5)
                        m.bias.zero_()
        self.normalize = normalize
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))
        for p in self.parameters():
            p.requires_grad_(False)

    def load_torchvision(self, path: str) -> None:
        """Loads conv weights from a torchvision-format VGG-16 state_dict file;
        ValueError for a file that is not one."""
        try:
            with warnings.catch_warnings():  # an archive loads as its module
                warnings.filterwarnings("ignore", message=".*looks like a TorchScript archive")
                sd = torch.load(path, map_location="cpu")
        except Exception as e:  # pickle, zip and torch errors alike
            raise ValueError(f"{path}: cannot read VGG-16 weights: {e}")
        if isinstance(sd, nn.Module):
            sd = sd.state_dict()
        if not isinstance(sd, dict):
            raise ValueError(f"{path}: not a torchvision VGG-16 state_dict "
                             f"(it holds a {type(sd).__name__})")
        own = {}
        for k, v in sd.items():
            key = k[len("features."):] if str(k).startswith("features.") else k
            own[key] = v
        wanted = self.features.state_dict()
        missing = [k for k in wanted if k not in own]
        if missing:
            raise ValueError(f"{path}: not a torchvision VGG-16 state_dict (missing {missing[:3]})")
        try:
            self.features.load_state_dict({k: own[k] for k in wanted})
        except RuntimeError as e:  # another width (--loss-width) or network
            raise ValueError(f"{path}: does not fit VGG-16 features: "
                             f"{' '.join(str(e).split())[:300]}")

    def forward(self, x: torch.Tensor) -> List[torch.Tensor]:
        if self.normalize:
            x = (x - self.mean) / self.std
        out = []
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i in self.tap_idx:
                out.append(x)
        return out


class RandomFilterBank(nn.Module):
    """One layer of random filters at several sizes, each followed by ReLU."""

    def __init__(self, sizes: Sequence[int] = FILTER_SIZES, channels: int = 128,
                 seed: int = 0):
        super().__init__()
        gen = torch.Generator().manual_seed(seed)
        self.convs = nn.ModuleList()
        for k in sizes:
            conv = nn.Conv2d(3, channels, k, padding=k // 2)
            with torch.no_grad():
                w = torch.randn(conv.weight.shape, generator=gen)
                w -= w.mean(dim=(1, 2, 3), keepdim=True)  # zero-mean filters see texture
                conv.weight.copy_(w * (2.0 / (3 * k * k)) ** 0.5)
                conv.bias.zero_()
            self.convs.append(conv)
        for p in self.parameters():
            p.requires_grad_(False)

    def forward(self, x: torch.Tensor) -> List[torch.Tensor]:
        x = x - 0.5
        return [F.relu(c(x)) for c in self.convs]


class StyleStats:
    """Statistics of a painting's taps, and the distance of an output's to them."""

    def __init__(self, kind: str = "centred", swd_dirs: int = 64, seed: int = 0):
        if kind not in ("gram", "centred", "swd"):
            raise ValueError(f"unknown style statistic {kind!r}")
        self.kind = kind
        self.swd_dirs = swd_dirs
        self.gen = torch.Generator().manual_seed(seed)

    def target(self, feats: List[torch.Tensor]) -> List[Dict[str, torch.Tensor]]:
        """Statistics of each tap of a batch of paintings (one per row)."""
        out = []
        for f in feats:
            f = f.detach()
            if self.kind == "gram":
                out.append({"g": gram(f)})
            elif self.kind == "centred":
                mu, cov = mean_cov(f)
                out.append({"mu": mu, "cov": cov,
                            "nmu": mu.pow(2).sum(1).clamp(min=1e-8),
                            "ncov": cov.pow(2).sum((1, 2)).clamp(min=1e-8)})
            else:
                out.append({"f": f.flatten(2)})
        return out

    def loss(self, feats: List[torch.Tensor], targets: List[Dict[str, torch.Tensor]]) -> torch.Tensor:
        """Mean over taps and images; targets rows line up with feats rows."""
        total = feats[0].new_zeros(())
        for f, t in zip(feats, targets):
            if self.kind == "gram":
                total = total + 0.5 * (gram(f) - t["g"]).pow(2).sum((1, 2)).mean()
            elif self.kind == "centred":
                mu, cov = mean_cov(f)
                total = total + ((mu - t["mu"]).pow(2).sum(1) / t["nmu"]).mean()
                total = total + ((cov - t["cov"]).pow(2).sum((1, 2)) / t["ncov"]).mean()
            else:
                total = total + self._swd(f.flatten(2), t["f"])
        return total / len(feats)

    def _swd(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        c = a.shape[1]
        dirs = torch.randn(c, self.swd_dirs, generator=self.gen)
        dirs = dirs / dirs.norm(dim=0, keepdim=True)
        w = dirs.T.contiguous().view(self.swd_dirs, c, 1, 1)  # projections as 1x1 convs
        pa = F.conv2d(a.unsqueeze(3), w).squeeze(3).sort(dim=2).values
        pb = F.conv2d(b.unsqueeze(3), w).squeeze(3).sort(dim=2).values
        if pb.shape[2] != pa.shape[2]:
            pb = F.interpolate(pb, size=pa.shape[2], mode="linear", align_corners=True)
        scale = pb.pow(2).mean((1, 2)).clamp(min=1e-8)
        return ((pa - pb).pow(2).mean((1, 2)) / scale).mean()


class Identity(nn.Module):
    """The RGB image itself as the only tap (colour statistics)."""

    def forward(self, x: torch.Tensor) -> List[torch.Tensor]:
        return [x]


def count_taps(name: str, weights: Optional[str] = None) -> int:
    """Number of taps of build_loss_network(name, weights=weights)."""
    if name == "vgg16":
        return len(PRETRAINED_TAPS if weights else RANDOM_TAPS)
    if name == "filterbank":
        return len(FILTER_SIZES)
    raise ValueError(f"unknown loss network {name!r} (vgg16, filterbank)")


def build_loss_network(name: str, seed: int = 0, weights: Optional[str] = None,
                       width: float = 1.0, pool: str = "max") -> nn.Module:
    """`vgg16` (random from seed, or `weights`; `pool` max or blur) or `filterbank`."""
    if pool not in ("max", "blur"):
        raise ValueError(f"unknown pooling {pool!r} (max, blur)")
    if name == "vgg16":
        taps = PRETRAINED_TAPS if weights else RANDOM_TAPS
        return VGG16Features(taps=taps, weights=weights, seed=seed, width=width, pool=pool)
    if name == "filterbank":
        return RandomFilterBank(seed=seed)
    raise ValueError(f"unknown loss network {name!r} (vgg16, filterbank)")
