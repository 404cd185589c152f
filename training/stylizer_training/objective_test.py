"""Tests of the training objective."""
import unittest

import torch

from stylizer_training.objective import StyleObjective


class ObjectiveTest(unittest.TestCase):
    def setUp(self):
        torch.manual_seed(0)
        self.paintings = [torch.rand(3, 20, 24), torch.rand(3, 18, 18) * 0.5]

    def test_rows_use_their_own_painting(self):
        obj = StyleObjective(seeds=(1,), width=0.25, content_weight=0.0)
        obj.set_styles(self.paintings)
        p0 = torch.nn.functional.interpolate(self.paintings[0][None], size=(16, 16))
        _, own = obj(p0, p0, [0])
        _, other = obj(p0, p0, [1])
        self.assertLess(own["rgb"], other["rgb"])
        self.assertLess(own["style"], other["style"])

    def test_terms_and_gradient(self):
        obj = StyleObjective(seeds=(1, 2), width=0.25, stat="gram", tv_weight=1.0)
        obj.set_styles(self.paintings)
        out = torch.rand(2, 3, 16, 16, requires_grad=True)
        total, terms = obj(out, torch.rand(2, 3, 16, 16), [1, 0])
        self.assertEqual(sorted(terms), ["content", "rgb", "style", "tv"])
        total.backward()
        self.assertTrue(torch.isfinite(out.grad).all())
        self.assertGreater(float(out.grad.abs().sum()), 0)


if __name__ == "__main__":
    unittest.main()
