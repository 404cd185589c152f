#!/usr/bin/env python3
"""Writes the golden-test data of the model runtime: inputs, style weights and
the 8-bit outputs of the ORIGINAL network (FastStylizationNetwork, eager) with
the weights of a serving archive, processed the way the runtime promises:
uint8 -> /255 -> reflect pad right/bottom to a multiple of 4 -> network ->
crop -> round(x * 255).

Blends are checked against the original network too: a blend w equals a
one-style FastStylizationNetwork whose gamma/beta rows are w @ embed.

It also writes broken archives for the runtime's error tests: no_styles.pt
(no stylizer/styles.json), zero_styles.pt (an empty list),
fewer_styles.pt (styles.json names 3 styles, the network has 4),
wrong_output.pt (forward returns a smaller image), out_of_range.pt (forward
returns values outside [0, 1]), bf16_fails_later.pt (an identity whose bf16
forward throws from its second call on), never_loads.pt (its warm-up forward
never returns).

Output: <out>/manifest.txt with one line per case "name batch height width"
(after a header line "styles N"), and <out>/<name>.input (uint8 NHWC),
<name>.weights (float32 [batch, N]), <name>.expected (uint8 NHWC).
"""
import argparse
import os
import sys

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "..", "training"))
from stylizer_training.network import FastStylizationNetwork  # noqa: E402


def test_image(batch, height, width, seed):
    """Smooth gradients plus noise, uint8 [B, H, W, 3]."""
    gen = torch.Generator().manual_seed(seed)
    ys = torch.linspace(0, 1, height).view(1, height, 1, 1)
    xs = torch.linspace(0, 1, width).view(1, 1, width, 1)
    base = torch.cat([xs.expand(batch, height, width, 1), ys.expand(batch, height, width, 1),
                      (xs * ys).expand(batch, height, width, 1)], 3)
    noise = torch.rand(batch, height, width, 3, generator=gen) * 0.5
    return ((base * 0.5 + noise) * 255).round().clamp(0, 255).to(torch.uint8)


def run_original(net, frames_u8, styles):
    """The runtime's contract around the original network; styles: index per frame."""
    x = frames_u8.permute(0, 3, 1, 2).float() / 255.0
    h, w = x.shape[2], x.shape[3]
    ph, pw = (-h) % 4, (-w) % 4
    if ph or pw:
        x = F.pad(x, (0, pw, 0, ph), mode="reflect")
    with torch.no_grad():
        y = net(x, torch.tensor(styles))
    y = y[:, :, :h, :w]
    return (y * 255).round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).contiguous()


def blended_network(state_dict, n_styles, weights):
    """A one-style original network whose style is the blend `weights`."""
    w = torch.tensor(weights, dtype=torch.float32)
    w = w / w.sum()
    sd = {k: (w @ v).unsqueeze(0) if k.endswith("embed.weight") else v
          for k, v in state_dict.items()}
    net = FastStylizationNetwork(1).eval()
    net.load_state_dict(sd)
    return net


class _WrongOutput(torch.nn.Module):
    def forward(self, images: torch.Tensor, style_weights: torch.Tensor) -> torch.Tensor:
        return images[:, :, ::2, ::2]


class _OutOfRange(torch.nn.Module):
    def forward(self, images: torch.Tensor, style_weights: torch.Tensor) -> torch.Tensor:
        return images * 4.0 - 1.0


class _FailsOnSecondBf16Call(torch.nn.Module):
    """Fine in fp32; in bf16 its first call works and the second throws."""

    def __init__(self):
        super().__init__()
        self.bf16_calls = 0

    def forward(self, images: torch.Tensor, style_weights: torch.Tensor) -> torch.Tensor:
        if images.dtype == torch.bfloat16:
            self.bf16_calls += 1
            if self.bf16_calls > 1:
                raise RuntimeError("bf16 kernel failed on the second call")
        return images


class _NeverReturns(torch.nn.Module):
    """A forward that spins for ever: a load that never ends (its warm-up)."""

    def forward(self, images: torch.Tensor, style_weights: torch.Tensor) -> torch.Tensor:
        x = images
        while bool(x.sum() > -1.0):
            x = x * 1.0
        return x


def write_broken_archives(archive, out_dir):
    """Archives that break one rule each (see the module docstring)."""
    styles4 = '[{"index":0,"name":"a"},{"index":1,"name":"b"},' \
              '{"index":2,"name":"c"},{"index":3,"name":"d"}]'
    model = '{"name": "broken"}'
    module = torch.jit.load(archive)
    torch.jit.save(module, os.path.join(out_dir, "no_styles.pt"),
                   _extra_files={"stylizer/model.json": model})
    torch.jit.save(module, os.path.join(out_dir, "zero_styles.pt"),
                   _extra_files={"stylizer/styles.json": "[]", "stylizer/model.json": model})
    torch.jit.save(module, os.path.join(out_dir, "fewer_styles.pt"),
                   _extra_files={"stylizer/styles.json": '[{"index":0,"name":"a"},'
                                 '{"index":1,"name":"b"},{"index":2,"name":"c"}]',
                                 "stylizer/model.json": model})
    for name, m in (("wrong_output.pt", _WrongOutput()), ("out_of_range.pt", _OutOfRange()),
                    ("bf16_fails_later.pt", _FailsOnSecondBf16Call()),
                    ("never_loads.pt", _NeverReturns())):
        torch.jit.save(torch.jit.script(m), os.path.join(out_dir, name),
                       _extra_files={"stylizer/styles.json": styles4, "stylizer/model.json": model})


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--archive", required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    torch.set_num_threads(1)
    state_dict = {k: v.float() for k, v in torch.jit.load(args.archive).state_dict().items()}
    n = state_dict["instance_norm1.embed.weight"].shape[0]
    net = FastStylizationNetwork(n).eval()
    net.load_state_dict(state_dict)
    os.makedirs(args.out, exist_ok=True)

    cases = []  # (name, frames, weights [B, N], expected)
    frames = test_image(2, 48, 64, seed=1)
    cases.append(("onehot_64x48", frames, torch.eye(n)[[0, n - 1]],
                  run_original(net, frames, [0, n - 1])))
    frames = test_image(1, 45, 70, seed=2)  # not multiples of 4: pad and crop
    cases.append(("odd_70x45", frames, torch.eye(n)[[n // 2]] * 3.0,  # unnormalised
                  run_original(net, frames, [n // 2])))
    blend = [1.0, 2.0] + [0.0] * (n - 3) + [1.0] if n >= 3 else [1.0] * n
    frames = test_image(1, 40, 52, seed=3)
    cases.append(("blend_52x40", frames, torch.tensor([blend]),
                  run_original(blended_network(state_dict, n, blend), frames, [0])))

    # Flat frames (black, a fade, a title card) and frames whose spread is
    # tiny beside their mean: the serving code's rounding once turned the
    # first into full-contrast texture and lost the second's variance.
    flat = torch.stack([torch.full((48, 64, 3), v, dtype=torch.uint8) for v in (0, 30, 200)])
    cases.append(("flat_64x48", flat, torch.eye(n)[[0, 1 % n, n - 1]],
                  run_original(net, flat, [0, 1 % n, n - 1])))
    low = torch.full((2, 48, 64, 3), 16, dtype=torch.uint8)
    low[:, :, 32:] = 17
    cases.append(("low_contrast_64x48", low, torch.eye(n)[[0, n - 1]],
                  run_original(net, low, [0, n - 1])))

    write_broken_archives(args.archive, args.out)
    with open(os.path.join(args.out, "manifest.txt.tmp"), "w") as manifest:
        manifest.write(f"styles {n}\n")
        for name, frames_u8, weights, expected in cases:
            b, h, w, _ = frames_u8.shape
            manifest.write(f"{name} {b} {h} {w}\n")
            frames_u8.numpy().tofile(os.path.join(args.out, name + ".input"))
            weights.float().numpy().tofile(os.path.join(args.out, name + ".weights"))
            expected.numpy().tofile(os.path.join(args.out, name + ".expected"))
    os.replace(os.path.join(args.out, "manifest.txt.tmp"), os.path.join(args.out, "manifest.txt"))


if __name__ == "__main__":
    main()
