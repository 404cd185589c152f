"""Reads a movie's frames for the measures, with the ffmpeg command (Debian's
ffmpeg package, which the test suite installs anyway)."""
import subprocess
from typing import Optional

import numpy as np
import torch


def read_frames(path: str, width: int, height: int,
                max_frames: Optional[int] = None) -> torch.Tensor:
    """[T, 3, height, width] in [0, 1]: the movie's frames, scaled (bicubic)
    to width x height, at most max_frames of them. ValueError for a movie
    ffmpeg cannot read (OSError without ffmpeg)."""
    cmd = ["ffmpeg", "-v", "error", "-nostdin", "-i", path]
    if max_frames:
        cmd += ["-frames:v", str(max_frames)]
    cmd += ["-vf", f"scale={width}:{height}:flags=bicubic", "-f", "rawvideo",
            "-pix_fmt", "rgb24", "-"]
    done = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if done.returncode != 0:
        why = done.stderr.decode(errors="replace").strip().splitlines()
        raise ValueError(f"{path}: ffmpeg cannot read it ({why[-1] if why else 'no message'})")
    raw = done.stdout
    frame_bytes = width * height * 3
    if not raw or len(raw) % frame_bytes:
        raise ValueError(f"{path}: ffmpeg gave {len(raw)} bytes, not whole "
                         f"{width}x{height} frames")
    arr = np.frombuffer(raw, dtype=np.uint8).reshape(-1, height, width, 3)
    return torch.from_numpy(arr.copy()).permute(0, 3, 1, 2).float() / 255.0
