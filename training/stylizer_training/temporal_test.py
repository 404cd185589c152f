"""Tests of the frame-to-frame measures on models whose answer is known."""
import unittest

import torch

from stylizer_training.temporal import (PanZoom, flow_free_ratio, grid_energy,
                                        motion_warping_error, noisy_stills,
                                        static_flicker, stride_energy_share,
                                        warping_error)


def smooth_photo(h: int, w: int) -> torch.Tensor:
    """A smooth, textured test picture [3, h, w] (sums of low-frequency waves)."""
    ys, xs = torch.meshgrid(torch.linspace(0, 1, h), torch.linspace(0, 1, w), indexing="ij")
    r = 0.5 + 0.3 * torch.sin(7 * xs + 3 * ys)
    g = 0.5 + 0.3 * torch.cos(5 * ys - 2 * xs)
    b = 0.5 + 0.2 * torch.sin(4 * xs * ys * 6)
    return torch.stack([r, g, b])


def identity(x):
    return x


def constant(x):
    return torch.full_like(x, 0.5)


def grid_model(x):
    """Adds a 4-pixel checker pattern, as a badly upsampling network would."""
    h, w = x.shape[2:]
    ys, xs = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    pattern = (((xs // 2) + (ys // 2)) % 2).float() * 0.1
    return (x + pattern).clamp(0, 1)


def jittery_model(x):
    """Adds fresh noise on every call: flickers even on a still input."""
    return (x + 0.05 * torch.randn_like(x)).clamp(0, 1)


class TemporalTest(unittest.TestCase):
    def test_noisy_stills_have_the_asked_noise(self):
        photo = torch.full((3, 32, 32), 0.5)
        frames = noisy_stills(photo, 20, sigma_grey=2.0)
        # |N(0, s) - N(0, s)| has mean 2 s / sqrt(pi): 2.26 grey levels for s = 2.
        step = float((frames[1:] - frames[:-1]).abs().mean() * 255)
        self.assertAlmostEqual(step, 2.26, delta=0.25)

    def test_static_flicker_of_known_models(self):
        photo = smooth_photo(32, 48)
        self.assertAlmostEqual(static_flicker(identity, photo, frames=10)["ratio"], 1.0, places=5)
        self.assertEqual(static_flicker(constant, photo, frames=10)["output"], 0.0)
        self.assertGreater(static_flicker(jittery_model, photo, frames=10)["ratio"], 3.0)

    def test_pan_zoom_inverse(self):
        camera = PanZoom((100, 140), (40, 60), pan=(0.5, -0.25), zoom=1.01)
        xs = torch.tensor([[0.0, 10.5, 59.0]], dtype=torch.float64)
        ys = torch.tensor([[0.0, 20.25, 39.0]], dtype=torch.float64)
        for t in (0, 3):
            x, y = camera.frame_point(t, *camera.source_point(t, xs, ys))
            self.assertTrue(torch.allclose(x, xs) and torch.allclose(y, ys))

    def test_warping_error_is_low_for_the_input_and_high_for_jitter(self):
        source = smooth_photo(96, 128)
        result = motion_warping_error(identity, source, (48, 64), frames=6)
        # Only bilinear interpolation and 8-bit rounding separate the frames.
        self.assertLess(result["input"], 1.0)
        self.assertAlmostEqual(result["output"], result["input"], places=5)
        jitter = motion_warping_error(jittery_model, source, (48, 64), frames=6)
        self.assertGreater(jitter["output"], 5 * jitter["input"])

    def test_warping_error_sees_a_wrong_motion(self):
        source = smooth_photo(96, 128)
        camera = PanZoom((96, 128), (48, 64))
        frames = camera.render(source, 6)
        wrong = PanZoom((96, 128), (48, 64), pan=(-3.0, 2.0))
        self.assertGreater(warping_error(frames, wrong), 3 * warping_error(frames, camera))

    def test_flow_free_ratio(self):
        frames = torch.stack([smooth_photo(32, 32) * (0.5 + 0.05 * t) for t in range(5)])
        self.assertAlmostEqual(flow_free_ratio(identity, frames)["ratio"], 1.0, places=5)
        self.assertEqual(flow_free_ratio(constant, frames)["ratio"], 0.0)

    def test_grid_energy_finds_a_stride_pattern(self):
        photo = smooth_photo(64, 96)
        self.assertLess(stride_energy_share(photo), 0.01)
        clean = grid_energy([photo], [identity(photo[None])[0]])
        self.assertAlmostEqual(clean["ratio"], 1.0, places=6)
        gridded = grid_energy([photo], [grid_model(photo[None])[0]])
        self.assertGreater(gridded["ratio"], 20.0)

    def test_grid_energy_needs_multiples_of_four(self):
        with self.assertRaises(ValueError):
            stride_energy_share(torch.rand(3, 30, 32))


if __name__ == "__main__":
    unittest.main()
