"""Turns a state_dict of the original network into a serving archive.

The archive is a TorchScript file (torch.jit.save) of `serving.ServingNetwork`
with two extra files:

- `stylizer/styles.json`: `[{"index": 0, "name": "klimt"}, ...]` in index order;
- `stylizer/model.json`: `{"name", "architecture", "source", "training", ...}`.

`export_archive` is the one entry point shared by the seed exporter
(`export_seed.py`) and the trainer. Before writing, it checks that the scripted
module computes the same function as the original network on a small input.
"""
import io
import json
import os
import zipfile
import zlib
from typing import Dict, List, Mapping, Sequence

import torch

from .network import FastStylizationNetwork
from .serving import ServingNetwork

ARCHITECTURE = "dumoulin2017-cin-v1"
STYLES_FILE = "stylizer/styles.json"
MODEL_FILE = "stylizer/model.json"
# Names of the original's eight styles, in index order.
ORIGINAL_STYLE_NAMES = ["klimt", "mosaic", "outcry", "picasso", "point", "van_gogh",
                        "warhol", "waves"]
# Largest difference allowed between the archive and the original network (fp32).
VERIFY_TOLERANCE = 1e-4


class ExportError(ValueError):
    """The state_dict, names or metadata cannot make a valid archive."""


def count_styles(state_dict: Mapping[str, torch.Tensor]) -> int:
    """Number of styles of an original-format state_dict."""
    key = "instance_norm1.embed.weight"
    if key not in state_dict:
        raise ExportError(f"not a FastStylizationNetwork state_dict: no '{key}' "
                          f"(keys start with {sorted(state_dict)[:5]})")
    return int(state_dict[key].shape[0])


def default_style_names(n_styles: int) -> List[str]:
    """The original's names for up to 8 styles, else style0, style1, ..."""
    if n_styles <= len(ORIGINAL_STYLE_NAMES):
        return ORIGINAL_STYLE_NAMES[:n_styles]
    return [f"style{i}" for i in range(n_styles)]


def _checked_state_dict(state_dict: Mapping[str, torch.Tensor],
                        n_styles: int) -> Dict[str, torch.Tensor]:
    """fp32 copy of state_dict; raises ExportError on missing, extra or misshapen keys."""
    expected = FastStylizationNetwork(n_styles).state_dict()
    missing = sorted(set(expected) - set(state_dict))
    extra = sorted(set(state_dict) - set(expected))
    if missing or extra:
        raise ExportError(f"state_dict does not match FastStylizationNetwork({n_styles}): "
                          f"missing {missing[:6]}, unexpected {extra[:6]}")
    out = {}
    for key, ref in expected.items():
        value = state_dict[key]
        if not isinstance(value, torch.Tensor):
            raise ExportError(f"state_dict entry '{key}' is a {type(value).__name__}, "
                              "not a tensor")
        if tuple(value.shape) != tuple(ref.shape):
            raise ExportError(f"state_dict entry '{key}' has shape {tuple(value.shape)}, "
                              f"expected {tuple(ref.shape)}")
        value = value.detach().to(device="cpu", dtype=torch.float32)
        if not torch.isfinite(value).all():
            raise ExportError(f"state_dict entry '{key}' holds NaN or infinite values")
        out[key] = value
    return out


def _verify(original: FastStylizationNetwork, scripted: torch.jit.ScriptModule,
            n_styles: int) -> None:
    """Raises ExportError unless scripted == original on small inputs, per
    style: noise, and a flat frame (where rounding in the serving code once
    became full-contrast texture). Both of the module's paths are compared:
    the per-image one that CPU tensors take, and the whole-batch one that CUDA
    tensors take (run here on the CPU, where it computes the same thing)."""
    gen = torch.Generator().manual_seed(0)
    index = torch.arange(n_styles)
    eye = torch.eye(n_styles)
    for what, images in (("noise", torch.rand(n_styles, 3, 36, 44, generator=gen)),
                         ("a flat frame", torch.full((n_styles, 3, 36, 44), 0.3))):
        with torch.no_grad():
            want = original(images, index)
            paths = (("", scripted(images, eye)),
                     (" (whole-batch path, used on GPUs)", scripted._batch(images, eye)))
        for path, got in paths:
            diff = (want - got).abs().max().item()
            if not diff <= VERIFY_TOLERANCE:
                raise ExportError(f"exported module differs from the original network by "
                                  f"{diff} on {what}{path} (tolerance {VERIFY_TOLERANCE})")


# Characters the stylizer CLI reads as part of a style spec ("a:0.7+b,c").
_SPEC_CHARACTERS = ",+:"


def check_style_names(names: Sequence[str]) -> None:
    """Raises ExportError unless every name can be chosen by name with the
    stylizer CLI's --styles: non-empty and unique, no surrounding white space
    (the CLI strips it), not digits only (read as an index), not 'all', and
    none of the spec's separators , + : or control characters."""
    if len(set(names)) != len(names):
        raise ExportError(f"style names must be unique: {list(names)}")
    for n in names:
        why = None
        if not n.strip():
            why = "is empty"
        elif n != n.strip():
            why = "begins or ends with white space"
        elif n.isascii() and n.isdigit():
            why = "is digits only, which --styles reads as a style index"
        elif n.lower() == "all":
            why = "is 'all', which --styles reads as every style"
        elif any(c in _SPEC_CHARACTERS for c in n):
            why = f"holds one of {' '.join(_SPEC_CHARACTERS)}, which separate --styles' parts"
        elif any(ord(c) < 32 or ord(c) == 127 for c in n):
            why = "holds a control character"
        if why:
            raise ExportError(f"style name {n!r} {why}; rename it")


def split_style_names(text: str) -> List[str]:
    """The names of a comma-separated list such as --names, each stripped."""
    return [n.strip() for n in text.split(",")]


def export_archive(state_dict: Mapping[str, torch.Tensor], style_names: Sequence[str],
                   out_path: str, metadata: dict) -> None:
    """Writes the serving archive of an original-format state_dict to out_path.

    state_dict: parameters of `FastStylizationNetwork(N)` (any float dtype,
      any device); N is read from it.
    style_names: N names in index order (check_style_names).
    metadata: stored in stylizer/model.json. Recognised keys: "name" (default:
      the file name without extension), "source" (where the weights came from),
      "training" (free-form notes: dict or string); any other key is kept too.
      "architecture" is always set by the exporter.
    Raises ExportError (a ValueError) for bad input; the file is written
    atomically (a temporary file renamed into place).
    """
    n_styles = count_styles(state_dict)
    if n_styles < 1:
        raise ExportError("the state_dict holds zero styles")
    names = [str(n) for n in style_names]
    if len(names) != n_styles:
        raise ExportError(f"{len(names)} style names given for {n_styles} styles")
    check_style_names(names)
    if not isinstance(metadata, dict):
        raise ExportError("metadata must be a dict")

    weights = _checked_state_dict(state_dict, n_styles)
    original = FastStylizationNetwork(n_styles).eval()
    original.load_state_dict(weights)
    serving = ServingNetwork(n_styles).eval()
    serving.load_state_dict(weights)
    for p in serving.parameters():
        p.requires_grad_(False)
    scripted = torch.jit.script(serving)
    _verify(original, scripted, n_styles)

    model = dict(metadata)
    model.setdefault("name", os.path.splitext(os.path.basename(out_path))[0])
    model.setdefault("source", "unspecified")
    model.setdefault("training", "unspecified")
    model["architecture"] = ARCHITECTURE
    model["num_styles"] = n_styles
    model["interface"] = ("forward(images float[B,3,H,W] in [0,1], H and W multiples of 4; "
                          "style_weights float[B,N]) -> float[B,3,H,W] in [0,1]")
    try:
        # allow_nan=False: NaN and Infinity are not JSON; the server would
        # refuse the archive at load ("invalid JSON ... expected a value").
        extra = {
            STYLES_FILE: json.dumps([{"index": i, "name": n} for i, n in enumerate(names)],
                                    indent=1),
            MODEL_FILE: json.dumps(model, indent=1, sort_keys=True, default=str,
                                   allow_nan=False),
        }
    except ValueError as e:
        raise ExportError(f"metadata cannot be written as JSON: {e} "
                          "(NaN and infinities are not JSON; write them as strings)")
    buffer = io.BytesIO()
    torch.jit.save(scripted, buffer, _extra_files=extra)
    out_dir = os.path.dirname(os.path.abspath(out_path))
    tmp_path = f"{out_path}.tmp{os.getpid()}"
    try:
        os.makedirs(out_dir, exist_ok=True)
        with open(tmp_path, "wb") as f:
            f.write(buffer.getvalue())
        os.replace(tmp_path, out_path)
    except OSError as e:
        if os.path.exists(tmp_path):
            os.remove(tmp_path)
        raise ExportError(f"cannot write {out_path}: {e.strerror or e}")


def check_zip_members(path: str, what: str, remedy: str) -> None:
    """Raises ExportError when a member of the zip file `path` (a serving
    archive or a torch.save checkpoint, named `what`) fails its CRC-32.
    torch.load and torch.jit.load never check the CRCs (the server does:
    server/model/zip_check.h): weights damaged by a bad copy load, and an
    archive exported from them would carry the damage under fresh CRCs, which
    the server would then serve. A file that is not a zip (a missing file, an
    old pickle checkpoint) is left to the loader."""
    if not os.path.isfile(path) or not zipfile.is_zipfile(path):
        return
    try:
        with zipfile.ZipFile(path) as z:
            bad = z.testzip()
    except (zipfile.BadZipFile, zlib.error, EOFError, ValueError) as e:
        raise ExportError(f"{what} {path} is damaged ({e}); {remedy}")
    if bad is not None:
        raise ExportError(f"{what} {path} is damaged: member {bad} fails its "
                          f"CRC-32 check; {remedy}")


def load_archive_metadata(path: str) -> Dict[str, object]:
    """Reads back {"styles": [...], "model": {...}} from an archive (for tools and tests)."""
    extra = {STYLES_FILE: "", MODEL_FILE: ""}
    torch.jit.load(path, map_location="cpu", _extra_files=extra)
    return {"styles": json.loads(extra[STYLES_FILE]), "model": json.loads(extra[MODEL_FILE])}

