"""Training loop of the multi-style network: batches, checkpoints, progress.

Every batch holds all N styles (a fresh random permutation per N rows); each
row is a random crop of a random content photo. The loss is a
`StyleObjective`; the optimiser is Adam. Checkpoints hold the network, the
optimiser, the step, the elapsed time, the random states (the swd statistic's
projection generator too) and the options, so a stopped run resumes where it
stopped, exactly as if it had not stopped.
"""
import os
import random
import signal
import sys
import time
from typing import Callable, Dict, List, Optional, Sequence

import torch

from .images import load_rgb, random_crop
from .network import FastStylizationNetwork
from .objective import StyleObjective
from .stability import (add_noise, equivariance_loss, frame_difference_loss,
                        noise_stability_loss, random_motion, stride_energy_loss, valid_mask,
                        warp)

CHECKPOINT_VERSION = 1


def style_schedule(n_styles: int, batch: int, rng: random.Random) -> List[int]:
    """Style index of each batch row: concatenated random permutations of all styles."""
    out: List[int] = []
    while len(out) < batch:
        perm = list(range(n_styles))
        rng.shuffle(perm)
        out += perm
    return out[:batch]


def format_eta(seconds: float) -> str:
    """Seconds -> 'H:MM:SS'."""
    seconds = max(0, int(seconds))
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


class Progress:
    """One-line progress bar (carriage return on a terminal, plain lines otherwise)."""

    def __init__(self, total: int, start: int, stream=sys.stderr, every: int = 10):
        self.total = total
        self.stream = stream
        self.tty = stream.isatty()
        self.every = every
        self.t0 = time.time()
        self.start = start
        self.ema: Dict[str, float] = {}

    def update(self, step: int, terms: Dict[str, float]) -> None:
        """Records the losses of `step` (1-based) and redraws when due."""
        for k, v in terms.items():
            self.ema[k] = v if k not in self.ema else 0.95 * self.ema[k] + 0.05 * v
        if not (self.tty or step % self.every == 0 or step == self.total):
            return
        done = step - self.start
        rate = done / max(1e-9, time.time() - self.t0)
        eta = (self.total - step) / rate if rate > 0 else 0
        width = 24
        fill = int(width * step / max(1, self.total))
        losses = " ".join(f"{k} {v:.4f}" for k, v in self.ema.items())
        line = (f"[{'#' * fill}{'.' * (width - fill)}] {step}/{self.total} {losses} "
                f"{rate:.2f} step/s ETA {format_eta(eta)}")
        if self.tty:
            self.stream.write("\r" + line + "\033[K")
            if step == self.total:
                self.stream.write("\n")
        else:
            self.stream.write(line + "\n")
        self.stream.flush()


def save_checkpoint(path: str, state: dict) -> None:
    """Writes atomically (temporary file, then rename)."""
    d = os.path.dirname(os.path.abspath(path))
    os.makedirs(d, exist_ok=True)
    tmp = path + ".tmp"
    torch.save(state, tmp)
    os.replace(tmp, path)


class Trainer:
    """Holds the network, the objective, the data and the optimiser of one run."""

    def __init__(self, opts: dict, photos: Sequence[str], paintings: Sequence[torch.Tensor],
                 log: Callable[[str], None] = print):
        self.opts = dict(opts)
        self.log = log
        self.n_styles = len(paintings)
        # Seeded first: the network's starting weights are drawn here.
        torch.manual_seed(opts["seed"])
        self.net = FastStylizationNetwork(self.n_styles)
        self.objective = StyleObjective(
            loss_net=opts["loss_net"], stat=opts["stat"], seeds=opts["loss_seeds"],
            weights=opts.get("loss_weights"), width=opts["loss_width"],
            style_weight=opts["style_weight"], rgb_weight=opts["rgb_weight"],
            content_weight=opts["content_weight"], content_tap=opts["content_tap"],
            tv_weight=opts.get("tv_weight", 0.0), pool=opts.get("loss_pool", "max"))
        self.objective.set_styles(paintings)
        self.optimizer = torch.optim.Adam(self.net.parameters(), lr=opts["lr"])
        self.step = 0
        self.elapsed = 0.0
        self.rng = random.Random(opts["seed"])
        load_side = max(512, 4 * opts["size"])
        self.photos: List[torch.Tensor] = [load_rgb(p, load_side) for p in photos]
        if not self.photos:
            raise ValueError("no content photos")
        self._stop = False

    def state(self) -> dict:
        """Everything a resumed run needs."""
        return {"version": CHECKPOINT_VERSION, "model": self.net.state_dict(),
                "optimizer": self.optimizer.state_dict(), "step": self.step,
                "elapsed": self.elapsed, "opts": self.opts, "rng": self.rng.getstate(),
                "torch_rng": torch.get_rng_state(),
                "stats_rng": self.objective.stats.gen.get_state()}

    def load_state(self, ckpt: dict) -> None:
        """Restores a checkpoint written by `state` (same number of styles)."""
        self.net.load_state_dict(ckpt["model"])
        self.optimizer.load_state_dict(ckpt["optimizer"])
        self.step = int(ckpt["step"])
        self.elapsed = float(ckpt.get("elapsed", 0.0))
        if "rng" in ckpt:
            self.rng.setstate(ckpt["rng"])
        if "torch_rng" in ckpt:
            torch.set_rng_state(ckpt["torch_rng"])
        if "stats_rng" in ckpt:  # the swd directions
            self.objective.stats.gen.set_state(ckpt["stats_rng"])

    def batch(self):
        """A batch: content crops [B, 3, S, S] and style indices."""
        b, size = self.opts["batch"], self.opts["size"]
        crops = [random_crop(self.rng.choice(self.photos), size, self.rng,
                             (self.opts["crop_min"], 1.0)) for _ in range(b)]
        return torch.stack(crops), style_schedule(self.n_styles, b, self.rng)

    def train_step(self) -> Dict[str, float]:
        """One optimiser step; returns the loss terms."""
        content, y = self.batch()
        self.optimizer.zero_grad(set_to_none=True)
        out = self.net(content, torch.tensor(y))
        total, terms = self.objective(out, content, y)
        total = total + self.stability_terms(content, y, out, terms)
        total.backward()
        self.optimizer.step()
        terms["total"] = float(total)
        return terms

    def stability_terms(self, content: torch.Tensor, y: Sequence[int], out: torch.Tensor,
                        terms: Dict[str, float]) -> torch.Tensor:
        """The weighted frame-to-frame terms (stability.py); each adds its
        name to `terms`. Equivariance and frame difference share one forward
        pass of a moved (and noisy) copy of the batch."""
        o = self.opts
        total = out.new_zeros(())
        styles = torch.tensor(y)
        net = lambda x: self.net(x, styles)  # noqa: E731
        sigma = o.get("noise_sigma", 0.02)
        if o.get("noise_weight", 0.0) > 0:
            loss = noise_stability_loss(net, content, out, sigma)
            total = total + o["noise_weight"] * loss
            terms["noise"] = float(loss)
        if o.get("equivariance_weight", 0.0) > 0 or o.get("framediff_weight", 0.0) > 0:
            size = tuple(content.shape[2:])
            theta = random_motion(len(content), o.get("motion_shift", 3.0),
                                  o.get("motion_zoom", 0.03), o.get("motion_rotate", 2.0), size)
            margin = 4 + int(o.get("motion_shift", 3.0))
            mask = valid_mask(theta, size, margin)
            moved = add_noise(warp(content, theta), sigma / 2)
            out_moved = net(moved)
            if o.get("equivariance_weight", 0.0) > 0:
                loss = equivariance_loss(out, out_moved, theta, mask)
                total = total + o["equivariance_weight"] * loss
                terms["equi"] = float(loss)
            if o.get("framediff_weight", 0.0) > 0:
                loss = frame_difference_loss(content, moved, out, out_moved, mask)
                total = total + o["framediff_weight"] * loss
                terms["fdiff"] = float(loss)
        if o.get("spectral_weight", 0.0) > 0:
            loss = stride_energy_loss(out, content)
            total = total + o["spectral_weight"] * loss
            terms["grid"] = float(loss)
        return total

    def request_stop(self, *_):
        """Signal handler: finish the current step, checkpoint, stop."""
        self._stop = True

    def run(self, checkpoint: Optional[str], checkpoint_every: int,
            on_checkpoint: Optional[Callable[["Trainer"], None]] = None) -> bool:
        """Trains until opts['steps']; returns False if stopped by a signal."""
        total = self.opts["steps"]
        progress = Progress(total, self.step)
        old = {s: signal.signal(s, self.request_stop) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            while self.step < total and not self._stop:
                t = time.time()
                terms = self.train_step()
                self.step += 1
                self.elapsed += time.time() - t
                progress.update(self.step, terms)
                if checkpoint and (self.step % checkpoint_every == 0 or self.step == total):
                    save_checkpoint(checkpoint, self.state())
                    if on_checkpoint:
                        on_checkpoint(self)
            if self._stop and checkpoint:
                save_checkpoint(checkpoint, self.state())
                self.log(f"stopped at step {self.step}; checkpoint {checkpoint}")
        finally:
            for s, h in old.items():
                signal.signal(s, h)
        return not self._stop
