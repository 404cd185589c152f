"""Tests of the Python view of a serving archive."""
import os
import tempfile
import unittest

import torch
import torch.nn.functional as F

from stylizer_training.archive import load_archive, style_function
from stylizer_training.export import ExportError, export_archive
from stylizer_training.network import FastStylizationNetwork


class StyleFunctionTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        torch.manual_seed(0)
        cls.net = FastStylizationNetwork(2).eval()
        cls.tmp = tempfile.TemporaryDirectory()
        path = os.path.join(cls.tmp.name, "two.pt")
        export_archive(cls.net.state_dict(), ["a", "b"], path, {})
        cls.module, cls.names = load_archive(path)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def test_a_damaged_archive_is_refused(self):
        # torch.jit.load never checks the members' CRC-32: the weights of a
        # bad copy loaded and were measured.
        path = os.path.join(self.tmp.name, "two.pt")
        with open(path, "rb") as f:
            data = bytearray(f.read())
        data[len(data) // 2] ^= 0x01
        damaged = os.path.join(self.tmp.name, "damaged.pt")
        with open(damaged, "wb") as f:
            f.write(data)
        with self.assertRaisesRegex(ExportError, "is damaged: member .* fails its CRC-32"):
            load_archive(damaged)

    def test_any_size_comes_back_at_its_size(self):
        # The archive takes multiples of 4: a 70x45 batch failed with "The
        # size of tensor a (70) must match ... (68)" in evaluate_movie.py,
        # evaluate.py and flicker_picture.py.
        stylize = style_function(self.module, 2, 1)
        batch = torch.rand(1, 3, 45, 70)
        out = stylize(batch)
        self.assertEqual(tuple(out.shape), (1, 3, 45, 70))
        # As the runtime: reflect-padded, run, cropped back.
        padded = F.pad(batch, (0, 2, 0, 3), mode="reflect")
        with torch.no_grad():
            want = self.net(padded, torch.tensor([1]))[..., :45, :70]
        self.assertLess((out - want).abs().max().item(), 1e-4)
        # Sides under 8 reflect more than once; multiples of 4 are untouched.
        self.assertEqual(tuple(stylize(torch.rand(1, 3, 2, 3)).shape), (1, 3, 2, 3))
        self.assertEqual(tuple(stylize(torch.rand(2, 3, 16, 8)).shape), (2, 3, 16, 8))
        self.assertEqual(self.names, ["a", "b"])


if __name__ == "__main__":
    unittest.main()
