"""The evaluation tools refuse missing, damaged or bad inputs with one line
and exit status 2, before any measure runs (evaluate.py's 1 means only that a
bar is not met)."""
import contextlib
import io
import os
import sys
import tempfile
import unittest
import zipfile
from unittest import mock

import numpy as np
import torch
from PIL import Image

import compare_losses
import evaluate
import evaluate_movie
import flicker_picture
import grid_experiment
from stylizer_training.export import export_archive
from stylizer_training.network import FastStylizationNetwork


def write_image(path, seed, size=(40, 32)):
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)).save(path)


def run_main(module, argv):
    """(exit status, stderr) of module.main() with argv as its command line."""
    err = io.StringIO()
    with mock.patch.object(sys, "argv", [module.__name__ + ".py"] + argv), \
            contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            rc = module.main()
        except SystemExit as e:
            rc = e.code
    return rc, err.getvalue()


class BadInputTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        torch.manual_seed(0)
        cls.tmp = tempfile.TemporaryDirectory()
        d = cls.tmp.name
        cls.model = os.path.join(d, "two.pt")
        export_archive(FastStylizationNetwork(2).state_dict(), ["a", "b"], cls.model, {})
        # One bit flipped inside the largest member's data: its CRC-32 fails.
        with zipfile.ZipFile(cls.model) as z:
            info = max(z.infolist(), key=lambda i: i.file_size)
        with open(cls.model, "rb") as f:
            data = bytearray(f.read())
        header = data[info.header_offset:info.header_offset + 30]
        start = (info.header_offset + 30 + int.from_bytes(header[26:28], "little")
                 + int.from_bytes(header[28:30], "little"))
        data[start + info.file_size // 2] ^= 0x40
        cls.damaged = os.path.join(d, "damaged.pt")
        with open(cls.damaged, "wb") as f:
            f.write(data)
        cls.styles = os.path.join(d, "styles")
        os.makedirs(cls.styles)
        for i, name in enumerate(["a", "b"]):
            write_image(os.path.join(cls.styles, name + ".png"), i)
        cls.photos_dir = os.path.join(d, "photos")
        os.makedirs(cls.photos_dir)
        write_image(os.path.join(cls.photos_dir, "photo.png"), 5)
        cls.photos = os.path.join(d, "photos.txt")
        with open(cls.photos, "w") as f:
            f.write("heldout photos/photo.png\n")
        cls.missing = os.path.join(d, "missing.pt")

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def assertRefused(self, module, argv, message):
        rc, err = run_main(module, argv)
        self.assertEqual(rc, 2, err)
        self.assertIn(message, err)
        self.assertNotIn("Traceback", err)

    def test_evaluate_refuses_bad_inputs_before_measuring(self):
        # Each was a traceback (exit status 1, as for a failed bar), some only
        # after the still-image measures.
        base = ["--styles", self.styles, "--photos", self.photos, "--width", "16",
                "--height", "16", "--threads", "1"]
        cases = [
            (["--model", self.missing, "--no-temporal"],
             f"evaluate: error: archive {self.missing} does not exist"),
            (["--model", self.damaged, "--no-temporal"],
             f"evaluate: error: archive {self.damaged} is damaged: member"),
            (["--model", self.model, "--no-temporal", "--photos", self.missing],
             f"evaluate: error: [Errno 2] No such file or directory: '{self.missing}'"),
            (["--model", self.model, "--no-temporal", "--styles", self.photos_dir],
             "no painting for style(s) a, b"),
            (["--model", self.model, "--no-temporal", "--picture",
              os.path.join(self.tmp.name, "p.png"), "--picture-photo", "5"],
             "evaluate: error: --picture-photo 5: the photo list has 1 held-out photos"),
            (["--model", self.model, "--temporal-styles", "c", "--movie", ""],
             "evaluate: error: --temporal-styles names unknown styles ['c']"),
            (["--model", self.model, "--movie", self.photos],
             f"evaluate: error: {self.photos}: ffmpeg cannot read it"),
            (["--model", self.model, "--width", "30", "--height", "22"],
             "--width and --height must be positive multiples of 4"),
            (["--model", self.model, "--still-frames", "1"],
             "--still-frames and --motion-frames must be at least 2"),
            (["--model", self.model, "--no-temporal", "--width", "0", "--height", "48"],
             "--width and --height must be at least 8"),  # was an index_select error
        ]
        for extra, message in cases:
            with self.subTest(extra=extra):
                self.assertRefused(evaluate, base + extra, message)

    def test_the_other_tools_refuse_a_missing_or_damaged_archive(self):
        out = os.path.join(self.tmp.name, "out.png")
        for model in (self.missing, self.damaged):
            for module, argv in (
                    (evaluate_movie, ["--model", model]),
                    (flicker_picture, ["--before", self.model, "--after", model,
                                       "--out", out]),
                    (grid_experiment, ["--model", model, "--styles", self.styles,
                                       "--photos", self.photos, "--style-names", "a"])):
                with self.subTest(tool=module.__name__, model=model):
                    self.assertRefused(module, argv,
                                       f"{module.__name__}: error: archive {model} ")
        self.assertRefused(grid_experiment, ["--model", self.model, "--styles", self.styles,
                                             "--photos", self.photos, "--style-names", "a,c"],
                           "has no style c")
        self.assertFalse(os.path.exists(out))

    def test_bad_sizes_and_inputs_are_refused(self):
        # Each was a traceback: ffmpeg reads a width of 0 or -1 as "keep the
        # aspect ratio"; compare_losses had no error handling.
        for width in ("0", "-1"):
            with self.subTest(width=width):
                self.assertRefused(evaluate_movie, ["--model", self.model, "--width", width,
                                                    "--height", "36", "--frames", "3"],
                                   "--width and --height must be at least 1")
        base = ["--photos", self.photos, "--style-names", "a", "--iters", "1", "--size", "16"]
        for extra, message in (
                (["--styles", os.path.join(self.tmp.name, "nodir")],
                 "compare_losses: error: no such image file or directory"),
                (["--styles", self.styles, "--photo-index", "9"],
                 "compare_losses: error: --photo-index 9: the photo list "
                 f"{self.photos} has 1 held-out photos (0 to 0)"),
                (["--styles", self.styles, "--photos", self.missing],
                 "compare_losses: error: [Errno 2] No such file or directory"),
                (["--styles", self.styles, "--size", "4"], "--size must be at least 8")):
            with self.subTest(extra=extra):
                self.assertRefused(compare_losses, base + extra, message)


if __name__ == "__main__":
    unittest.main()
