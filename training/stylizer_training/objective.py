"""The training objective: style statistics of the paintings on one or more
loss networks (plus, optionally, on the RGB pixels) and a content term.

    loss = style_weight * mean_nets(style stat loss) + rgb_weight * RGB stat loss
           + content_weight * ||phi(out) - phi(content)||^2 / ||phi(content)||^2
           + tv_weight * mean squared difference of neighbouring output pixels

`phi` is the content tap of the first loss network. Paintings are registered
once (`set_styles`); each output row is compared with the painting of its
style index.
"""
from typing import List, Optional, Sequence

import torch
from torch import nn

from .losses import Identity, StyleStats, build_loss_network


class StyleObjective(nn.Module):
    """Configurable perceptual loss; see the module comment."""

    def __init__(self, loss_net: str = "vgg16", stat: str = "centred",
                 seeds: Sequence[int] = (1,), weights: Optional[str] = None,
                 width: float = 1.0, style_weight: float = 1.0, rgb_weight: float = 1.0,
                 content_weight: float = 1.0, content_tap: int = 2, tv_weight: float = 0.0,
                 pool: str = "max"):
        super().__init__()
        if weights:
            seeds = (0,)  # one fixed network
        self.nets = nn.ModuleList(build_loss_network(loss_net, seed=s, weights=weights,
                                                     width=width, pool=pool) for s in seeds)
        self.stats = StyleStats(stat)
        self.rgb_stats = StyleStats("centred")
        self.rgb = Identity()
        self.style_weight = style_weight
        self.rgb_weight = rgb_weight
        self.content_weight = content_weight
        self.content_tap = content_tap
        self.tv_weight = tv_weight
        self.targets: List[List[List[dict]]] = []  # [style][net][tap]
        self.rgb_targets: List[List[dict]] = []

    @torch.no_grad()
    def set_styles(self, paintings: Sequence[torch.Tensor]) -> None:
        """Registers the paintings ([3, H, W] each, any size) in style-index order."""
        self.targets = [[self.stats.target(net(p[None])) for net in self.nets]
                        for p in paintings]
        self.rgb_targets = [self.rgb_stats.target(self.rgb(p[None])) for p in paintings]

    @staticmethod
    def _rows(targets: List[List[dict]], y: Sequence[int]) -> List[dict]:
        """Stacks per-style target dicts (one per tap) into batch rows."""
        out = []
        for tap in range(len(targets[y[0]])):
            out.append({k: torch.cat([targets[i][tap][k] for i in y])
                        for k in targets[y[0]][tap]})
        return out

    def _style_term(self, stats: StyleStats, feats: List[torch.Tensor],
                    per_style: List[List[dict]], y: Sequence[int]) -> torch.Tensor:
        if stats.kind == "swd":  # sample counts differ between paintings
            return sum(stats.loss([f[i:i + 1] for f in feats], per_style[s])
                       for i, s in enumerate(y)) / len(y)
        return stats.loss(feats, self._rows(per_style, y))

    def forward(self, out: torch.Tensor, content: torch.Tensor, y: Sequence[int]):
        """Returns (total, dict of the terms) for outputs `out`, their content
        images `content` and style indices `y` (a list of ints)."""
        y = [int(i) for i in y]
        style = out.new_zeros(())
        content_loss = out.new_zeros(())
        for n, net in enumerate(self.nets):
            feats = net(out)
            style = style + self._style_term(self.stats, feats,
                                             [t[n] for t in self.targets], y)
            if n == 0 and self.content_weight > 0:
                with torch.no_grad():
                    ref = net(content)[self.content_tap]
                diff = feats[self.content_tap] - ref
                content_loss = diff.pow(2).mean() / ref.pow(2).mean().clamp(min=1e-12)
        style = style / len(self.nets)
        rgb = out.new_zeros(())
        if self.rgb_weight > 0:
            rgb = self._style_term(self.rgb_stats, self.rgb(out), self.rgb_targets, y)
        total = (self.style_weight * style + self.rgb_weight * rgb
                 + self.content_weight * content_loss)
        terms = {"style": float(style), "rgb": float(rgb), "content": float(content_loss)}
        if self.tv_weight > 0:
            tv = ((out[:, :, 1:] - out[:, :, :-1]).pow(2).mean()
                  + (out[:, :, :, 1:] - out[:, :, :, :-1]).pow(2).mean())
            total = total + self.tv_weight * tv
            terms["tv"] = float(tv)
        return total, terms
