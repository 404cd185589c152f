"""Tests of the loss networks and style statistics (run: see scripts/test.d/40-training.sh)."""
import os
import tempfile
import unittest

import torch

from stylizer_training.losses import (RandomFilterBank, StyleStats, VGG16Features, gram,
                                      mean_cov)


class GramTest(unittest.TestCase):
    def test_matches_matrix_product(self):
        f = torch.randn(2, 5, 4, 3)
        flat = f.flatten(2)
        want = flat @ flat.transpose(1, 2) / (5 * 4 * 3)
        self.assertTrue(torch.allclose(gram(f), want, atol=1e-6))

    def test_mean_cov(self):
        f = torch.randn(1, 3, 8, 8)
        mu, cov = mean_cov(f)
        flat = f.flatten(2)[0]
        c = flat - flat.mean(1, keepdim=True)
        self.assertTrue(torch.allclose(mu[0], flat.mean(1), atol=1e-6))
        self.assertTrue(torch.allclose(cov[0], c @ c.T / 64, atol=1e-5))


class StyleStatsTest(unittest.TestCase):
    def test_zero_for_identical_and_positive_otherwise(self):
        feats = [torch.rand(2, 4, 6, 6), torch.rand(2, 8, 3, 3)]
        other = [f * 2 + 0.1 for f in feats]
        for kind in ("gram", "centred", "swd"):
            stats = StyleStats(kind)
            t = stats.target(feats)
            self.assertLess(float(stats.loss(feats, t)), 1e-6, kind)
            self.assertGreater(float(stats.loss(other, t)), 1e-3, kind)

    def test_unknown_kind(self):
        with self.assertRaises(ValueError):
            StyleStats("nope")


class LossNetworkTest(unittest.TestCase):
    def test_random_vgg_is_seeded_and_taps(self):
        x = torch.rand(1, 3, 32, 32)
        a = VGG16Features(seed=3)(x)
        b = VGG16Features(seed=3)(x)
        c = VGG16Features(seed=4)(x)
        self.assertEqual([f.shape[1] for f in a], [64, 128, 256, 512])
        self.assertTrue(torch.equal(a[-1], b[-1]))
        self.assertFalse(torch.equal(a[-1], c[-1]))

    def test_loads_torchvision_format(self):
        src = VGG16Features(taps=("relu4_3",), seed=7)
        sd = {f"features.{k}": v for k, v in src.features.state_dict().items()}
        sd["classifier.0.weight"] = torch.zeros(1)  # whole-model files carry more keys
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "vgg16.pth")
            torch.save(sd, path)
            loaded = VGG16Features(taps=("relu4_3",), weights=path)
            x = torch.rand(1, 3, 16, 16)
            self.assertTrue(torch.allclose(loaded(x)[0], src(x)[0]))
            torch.save({"features.0.weight": torch.zeros(1)}, path)
            with self.assertRaises(ValueError):
                VGG16Features(weights=path)

    def test_filter_bank(self):
        out = RandomFilterBank(sizes=(3, 5), channels=4)(torch.rand(1, 3, 10, 10))
        self.assertEqual([tuple(f.shape) for f in out], [(1, 4, 10, 10)] * 2)


if __name__ == "__main__":
    unittest.main()
