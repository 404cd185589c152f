"""The stylization quality measures of the model card (see training/evaluate.py).

- colour distance: ||mean_a - mean_b||^2 + ||cov_a - cov_b||_F of RGB pixels in [0, 1];
- Gram distance: sum over taps of ||G_a - G_b||_F^2 / ||G_b||_F^2 on a randomly
  initialised VGG-16 (seed EVAL_SEED, never used in training);
- edge correlation: Pearson correlation of the Sobel gradient magnitudes of the
  luminance of two images;
- distinctness: mean absolute difference of two images in 8-bit grey levels.
"""
import torch
import torch.nn.functional as F

from .losses import RANDOM_TAPS, VGG16Features, gram

EVAL_SEED = 90210


def rgb_stats(img: torch.Tensor):
    """Mean [3] and covariance [3, 3] of the pixels of [3, H, W]."""
    px = img.reshape(3, -1)
    mu = px.mean(1)
    c = px - mu[:, None]
    return mu, c @ c.T / px.shape[1]


def colour_distance(a: torch.Tensor, b: torch.Tensor) -> float:
    """Distance between the RGB mean/covariance of two images [3, H, W]."""
    ma, ca = rgb_stats(a)
    mb, cb = rgb_stats(b)
    return float((ma - mb).pow(2).sum() + (ca - cb).norm())


class GramDistance:
    """Gram distance to a fixed target image on a random VGG-16."""

    def __init__(self, seed: int = EVAL_SEED):
        self.net = VGG16Features(taps=RANDOM_TAPS, seed=seed).eval()

    @torch.no_grad()
    def grams(self, img: torch.Tensor):
        """Gram matrices of each tap of [3, H, W]."""
        return [gram(f)[0] for f in self.net(img[None])]

    @torch.no_grad()
    def distance(self, img: torch.Tensor, target_grams) -> float:
        """Distance of img's Grams to precomputed target Grams."""
        total = 0.0
        for g, t in zip(self.grams(img), target_grams):
            total += float((g - t).pow(2).sum() / t.pow(2).sum().clamp(min=1e-12))
        return total


def luminance(img: torch.Tensor) -> torch.Tensor:
    """[3, H, W] -> [H, W] Rec. 601 luma."""
    return 0.299 * img[0] + 0.587 * img[1] + 0.114 * img[2]


def sobel_magnitude(y: torch.Tensor) -> torch.Tensor:
    """Gradient magnitude [H-2, W-2] of a [H, W] image."""
    kx = torch.tensor([[-1.0, 0, 1], [-2, 0, 2], [-1, 0, 1]]).view(1, 1, 3, 3)
    gx = F.conv2d(y[None, None], kx)
    gy = F.conv2d(y[None, None], kx.transpose(2, 3))
    return (gx.pow(2) + gy.pow(2)).sqrt()[0, 0]


def edge_correlation(a: torch.Tensor, b: torch.Tensor) -> float:
    """Pearson correlation of the luminance edge maps of two [3, H, W] images."""
    ea = sobel_magnitude(luminance(a)).flatten()
    eb = sobel_magnitude(luminance(b)).flatten()
    ea = ea - ea.mean()
    eb = eb - eb.mean()
    den = (ea.norm() * eb.norm()).clamp(min=1e-12)
    return float((ea * eb).sum() / den)


def grey_level_difference(a: torch.Tensor, b: torch.Tensor) -> float:
    """Mean absolute difference of two same-size images, in 8-bit levels."""
    return float((a - b).abs().mean() * 255.0)
