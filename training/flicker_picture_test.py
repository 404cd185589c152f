"""Tests of the before-and-after flicker picture's pieces."""
import os
import tempfile
import unittest

import torch

from flicker_picture import change_maps, draw


class ChangeMapsTest(unittest.TestCase):
    def test_still_sequence_has_no_change(self):
        seq = torch.rand(1, 3, 8, 12).expand(4, -1, -1, -1)
        maps, means = change_maps(seq, gain=4)
        self.assertEqual(tuple(maps.shape), (3, 3, 8, 12))
        self.assertEqual(means, [0.0, 0.0, 0.0])
        self.assertEqual(float(maps.abs().max()), 0.0)

    def test_mean_change_is_in_grey_levels_and_map_is_amplified(self):
        # Each frame one grey level brighter in every channel than the one before.
        seq = torch.stack([torch.full((3, 4, 4), (100 + t) / 255) for t in range(3)])
        maps, means = change_maps(seq, gain=10)
        for m in means:
            self.assertAlmostEqual(m, 1.0, places=4)
        self.assertTrue(torch.allclose(maps, torch.full_like(maps, 10 / 255), atol=1e-5))

    def test_map_is_clamped(self):
        seq = torch.stack([torch.zeros(3, 2, 2), torch.ones(3, 2, 2)])
        maps, _ = change_maps(seq, gain=4)
        self.assertEqual(float(maps.max()), 1.0)


class DrawTest(unittest.TestCase):
    def test_sheet_has_one_tile_per_frame_and_row_and_fits_the_budget(self):
        from PIL import Image
        tiles = [torch.rand(3, 40, 60) for _ in range(3)]
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "sheet.png")
            draw([(tiles, None), (tiles, ["1.0", "2.0", "3.0"])], ["frame", "change"], path,
                 max_bytes=10**6)
            with Image.open(path) as sheet:
                self.assertEqual(sheet.size, (180, 80))
            # Random tiles do not compress: a small budget forces a smaller sheet.
            draw([(tiles, None), (tiles, None)], ["a", "b"], path, max_bytes=8000)
            self.assertLessEqual(os.path.getsize(path), 8000)
            with Image.open(path) as sheet:
                self.assertLess(sheet.size[0], 180)


if __name__ == "__main__":
    unittest.main()
