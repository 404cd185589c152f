"""Tests of the evaluation measures."""
import unittest

import torch

from stylizer_training.metrics import (colour_distance, edge_correlation,
                                       grey_level_difference)


class MetricsTest(unittest.TestCase):
    def test_colour_distance(self):
        a = torch.rand(3, 16, 16)
        self.assertAlmostEqual(colour_distance(a, a), 0.0, places=6)
        self.assertGreater(colour_distance(a, a * 0.5), 0.01)

    def test_edge_correlation(self):
        a = torch.rand(3, 20, 20)
        self.assertAlmostEqual(edge_correlation(a, a), 1.0, places=4)
        self.assertAlmostEqual(edge_correlation(a, 0.5 * a + 0.2), 1.0, places=4)
        self.assertLess(abs(edge_correlation(a, torch.rand(3, 20, 20))), 0.5)

    def test_grey_levels(self):
        a = torch.zeros(3, 4, 4)
        self.assertAlmostEqual(grey_level_difference(a, a + 10 / 255), 10.0, places=4)


if __name__ == "__main__":
    unittest.main()
