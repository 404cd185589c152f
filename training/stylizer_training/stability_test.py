"""Known-answer tests of the frame-to-frame training terms (stability.py)."""
import os
import sys
import tempfile
import unittest

import torch
import torch.nn.functional as F

from stylizer_training.losses import BlurMaxPool2d, build_loss_network
from stylizer_training.stability import (add_noise, equivariance_loss, frame_difference_loss,
                                         noise_stability_loss, random_motion, stride_energy,
                                         stride_energy_loss, valid_mask, warp)
from stylizer_training.temporal import stride_energy_share

TRAINING_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def smooth_photo(b=2, h=48, w=64, seed=0):
    """A smooth random image (low frequencies only, like a photo's bulk)."""
    g = torch.Generator().manual_seed(seed)
    small = torch.rand(b, 3, h // 8, w // 8, generator=g)
    return F.interpolate(small, size=(h, w), mode="bicubic", align_corners=False).clamp(0, 1)


def colour_matrix(x):
    """A per-pixel linear model: exactly equivariant to any warp."""
    m = torch.tensor([[0.5, 0.3, 0.1], [0.1, 0.6, 0.2], [0.2, 0.1, 0.4]])
    return torch.einsum("oc,bchw->bohw", m, x) + 0.1


def with_grid(x):
    """Adds a fixed period-2 checkerboard anchored to the frame (a 'grid')."""
    h, w = x.shape[2:]
    ys, xs = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    return x + 0.1 * ((ys + xs) % 2).to(x.dtype)


class NoiseStabilityTest(unittest.TestCase):
    def test_constant_model_is_stable_noisy_model_is_not(self):
        x = smooth_photo()
        const = lambda t: torch.full_like(t, 0.5)  # noqa: E731
        self.assertEqual(float(noise_stability_loss(const, x, const(x), 0.05)), 0.0)
        ident = lambda t: t  # noqa: E731
        loss = float(noise_stability_loss(ident, x, x, 0.05, torch.Generator().manual_seed(1)))
        self.assertAlmostEqual(loss, 0.05 ** 2, delta=0.3 * 0.05 ** 2)  # clamping trims a bit
        amplify = lambda t: 4 * t  # noqa: E731
        self.assertGreater(float(noise_stability_loss(amplify, x, amplify(x), 0.05)), 10 * loss)

    def test_noise_is_clamped(self):
        y = add_noise(torch.ones(1, 3, 8, 8), 0.5)
        self.assertLessEqual(float(y.max()), 1.0)
        self.assertGreaterEqual(float(y.min()), 0.0)


class MotionTest(unittest.TestCase):
    def test_zero_motion_is_the_identity(self):
        theta = random_motion(3, 0.0, 0.0, 0.0, (24, 40))
        x = torch.rand(3, 3, 24, 40)
        self.assertTrue(torch.allclose(warp(x, theta), x, atol=1e-5))

    def test_integer_shift_moves_by_that_many_pixels(self):
        theta = torch.tensor([[[1.0, 0.0, 2 * 2 / 40], [0.0, 1.0, -1 * 2 / 24]]])
        x = torch.rand(1, 3, 24, 40)
        y = warp(x, theta)  # y(p) = x(p + (2, -1))
        self.assertTrue(torch.allclose(y[:, :, 1:, :-2], x[:, :, :-1, 2:], atol=1e-5))

    def test_motion_stays_within_its_ranges(self):
        theta = random_motion(64, 3.0, 0.05, 2.0, (64, 64), torch.Generator().manual_seed(0))
        scale = theta[:, :, :2].det().abs().sqrt()  # 1 / zoom
        self.assertTrue(bool(((1 / scale - 1).abs() <= 0.05 + 1e-6).all()))
        self.assertTrue(bool((theta[:, :, 2].abs() <= 3.0 * 2 / 64 + 1e-6).all()))
        self.assertGreater(float(theta[:, :, 2].abs().max()), 0.5 * 2 / 64)

    def test_mask_excludes_the_border(self):
        theta = random_motion(2, 0.0, 0.0, 0.0, (32, 32))
        mask = valid_mask(theta, (32, 32), 4)
        self.assertEqual(float(mask[0, 0, 4:28, 4:28].min()), 1.0)
        self.assertEqual(float(mask[0, 0, :4].max()), 0.0)


class EquivarianceTest(unittest.TestCase):
    def setUp(self):
        self.x = smooth_photo()
        size = tuple(self.x.shape[2:])
        self.theta = random_motion(2, 3.0, 0.05, 3.0, size, torch.Generator().manual_seed(3))
        self.mask = valid_mask(self.theta, size, 6)
        self.moved = warp(self.x, self.theta)

    def loss(self, model):
        return float(equivariance_loss(model(self.x), model(self.moved), self.theta, self.mask))

    def test_equivariant_model_has_zero_loss(self):
        self.assertLess(self.loss(colour_matrix), 1e-10)
        self.assertLess(self.loss(lambda t: t), 1e-10)

    def test_frame_anchored_grid_is_penalised(self):
        self.assertGreater(self.loss(with_grid), 1e-3)

    def test_stride_two_model_is_penalised(self):
        # Nearest-neighbour down-up: a 2-pixel block structure fixed to the frame.
        down_up = lambda t: F.interpolate(F.avg_pool2d(t, 2), scale_factor=2)  # noqa: E731
        self.assertGreater(self.loss(down_up), 10 * self.loss(lambda t: t) + 1e-6)


class FrameDifferenceTest(unittest.TestCase):
    def test_known_answers(self):
        x = smooth_photo()
        size = tuple(x.shape[2:])
        theta = random_motion(2, 3.0, 0.05, 3.0, size, torch.Generator().manual_seed(4))
        mask = valid_mask(theta, size, 6)
        moved = add_noise(warp(x, theta), 0.01)

        def loss(model):
            return float(frame_difference_loss(x, moved, model(x), model(moved), mask))
        self.assertEqual(loss(lambda t: t), 0.0)
        self.assertLess(loss(lambda t: t + 0.2), 1e-12)  # a constant offset keeps differences
        self.assertGreater(loss(lambda t: 3 * t), 1e-4)
        noisy = lambda t: t + 0.05 * torch.randn_like(t)  # noqa: E731
        self.assertGreater(loss(noisy), 1e-3)


class StrideEnergyTest(unittest.TestCase):
    def test_matches_the_evaluation_measure(self):
        x = torch.rand(2, 3, 32, 48)
        got = stride_energy(x)
        for i in range(2):
            self.assertAlmostEqual(float(got[i]), stride_energy_share(x[i]), places=5)

    def test_grid_raises_it_and_the_loss(self):
        x = smooth_photo()
        self.assertEqual(float(stride_energy_loss(x, x)), 0.0)
        gridded = with_grid(x).requires_grad_(True)
        loss = stride_energy_loss(gridded, x)
        self.assertGreater(float(loss), 0.05)
        loss.backward()
        self.assertTrue(torch.isfinite(gridded.grad).all())
        with self.assertRaises(ValueError):
            stride_energy(torch.rand(1, 3, 30, 32))


class BlurPoolTest(unittest.TestCase):
    def test_shape_and_constants(self):
        pool = BlurMaxPool2d()
        x = torch.full((1, 4, 10, 14), 0.7)
        y = pool(x)
        self.assertEqual(tuple(y.shape), (1, 4, 5, 7))
        self.assertTrue(torch.allclose(y, torch.full_like(y, 0.7)))

    def test_shift_robust(self):
        # A one-pixel shift of a sharp edge moves max-pool's output by a whole
        # coarse pixel or not at all; the blurred pool changes less.
        x = torch.zeros(1, 1, 16, 16)
        x[:, :, :, 7:] = 1.0
        shifted = torch.roll(x, 1, dims=3)
        plain = float((F.max_pool2d(x, 2) - F.max_pool2d(shifted, 2)).abs().max())
        blur = float((BlurMaxPool2d()(x) - BlurMaxPool2d()(shifted)).abs().max())
        self.assertLess(blur, plain)

    def test_loss_network_option(self):
        net = build_loss_network("vgg16", seed=1, width=0.25, pool="blur")
        self.assertEqual(len(net(torch.rand(1, 3, 32, 32))), 4)
        with self.assertRaises(ValueError):
            build_loss_network("vgg16", pool="average")


class TrainerTermsTest(unittest.TestCase):
    def test_train_script_reports_every_term(self):
        sys.path.insert(0, TRAINING_DIR)
        import train  # noqa: E402
        from stylizer_training.trainer_test import write_image
        torch.set_num_threads(1)
        with tempfile.TemporaryDirectory() as d:
            styles, photos = os.path.join(d, "styles"), os.path.join(d, "photos")
            os.makedirs(styles)
            os.makedirs(photos)
            write_image(os.path.join(styles, "red.png"), 1)
            write_image(os.path.join(styles, "blue.jpg"), 2)
            write_image(os.path.join(photos, "p.png"), 10)
            ckpt = os.path.join(d, "run.ckpt")
            self.assertEqual(train.main([
                "--styles", styles, "--style-names", "red,blue", "--content", photos,
                "--checkpoint", ckpt, "--size", "16", "--style-size", "24", "--batch", "2",
                "--threads", "1", "--steps", "1", "--loss-width", "0.25", "--loss-pool", "blur",
                "--noise-weight", "1", "--equivariance-weight", "1", "--framediff-weight", "1",
                "--spectral-weight", "1", "--motion-shift", "1"]), 0)
            opts = torch.load(ckpt)["opts"]
            self.assertEqual(opts["loss_pool"], "blur")
            self.assertEqual(opts["equivariance_weight"], 1.0)

    def test_terms_reach_the_loss(self):
        from stylizer_training.trainer import Trainer
        torch.manual_seed(0)
        opts = dict(size=16, style_size=24, batch=2, lr=1e-3, loss_net="vgg16", stat="centred",
                    loss_seeds=[1], loss_weights=None, loss_width=0.25, style_weight=1.0,
                    rgb_weight=1.0, content_weight=1.0, content_tap=2, crop_min=0.5, seed=0,
                    style_names=["a", "b"], steps=1, noise_weight=1.0,
                    equivariance_weight=1.0, framediff_weight=1.0, spectral_weight=1.0,
                    motion_shift=1.0)
        with tempfile.TemporaryDirectory() as d:
            from stylizer_training.trainer_test import write_image
            write_image(os.path.join(d, "p.png"), 3)
            trainer = Trainer(opts, [os.path.join(d, "p.png")],
                              [torch.rand(3, 24, 24), torch.rand(3, 24, 24)])
        terms = trainer.train_step()
        for name in ("noise", "equi", "fdiff", "grid"):
            self.assertIn(name, terms)
            self.assertGreaterEqual(terms[name], 0.0)
        self.assertGreater(terms["noise"] + terms["equi"] + terms["fdiff"], 0.0)


if __name__ == "__main__":
    unittest.main()
