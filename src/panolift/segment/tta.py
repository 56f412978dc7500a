"""Test-time augmentations for the 2D segmenter, in pure PyTorch (+ kornia), batched and device-agnostic.

The authors segmented every image 13 times: the original, seven single augmentations (horizontal flip,
RGB shift, CLAHE, gamma, brightness/contrast, median blur, sharpen) and five pairs of them, with the
parameter ranges of albumentations' defaults (listed on each function). Random parameters come from a
``torch.Generator`` so that a rerun reproduces the same labels. Only the flip moves pixels; its masks are
flipped back with :func:`undo_flips`.

Images are float (batch, 3, H, W) RGB in [0, 1].
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

# The 13 runs: the original first (its segments are the no-TTA result), then single augmentations, pairs.
TTA_RECIPES: tuple[tuple[str, ...], ...] = (
    (),
    ("hflip",),
    ("rgb_shift",),
    ("clahe",),
    ("gamma",),
    ("brightness_contrast",),
    ("median_blur",),
    ("sharpen",),
    ("rgb_shift", "clahe"),
    ("clahe", "gamma"),
    ("rgb_shift", "gamma"),
    ("clahe", "brightness_contrast"),
    ("median_blur", "sharpen"),
)
NUM_TTA_RUNS = len(TTA_RECIPES)


def _uniform(batch: int, low: float, high: float, generator: torch.Generator | None, like: torch.Tensor):
    values = torch.rand(batch, generator=generator)  # a CPU generator: same draws on every device
    return (low + (high - low) * values).to(device=like.device, dtype=like.dtype)


def flip_horizontal(images: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Mirror left-right (undone on the predicted masks)."""
    return images.flip(-1)


def shift_rgb(
    images: torch.Tensor, generator: torch.Generator | None = None, limit: float = 20 / 255
) -> torch.Tensor:
    """Add an independent offset to each channel: ``x_c + U(-limit, limit)``, clipped (albumentations RGBShift)."""
    b = images.shape[0]
    shift = _uniform(b * 3, -limit, limit, generator, images).view(b, 3, 1, 1)
    return (images + shift).clamp(0.0, 1.0)


def equalize_clahe_luminance(
    images: torch.Tensor,
    generator: torch.Generator | None = None,
    clip_range: tuple[float, float] = (1.0, 4.0),
) -> torch.Tensor:
    """Contrast-limited adaptive histogram equalisation of the L channel of CIELAB (8x8 tiles, clip 1-4)."""
    from kornia.color import lab_to_rgb, rgb_to_lab
    from kornia.enhance import equalize_clahe

    clips = _uniform(images.shape[0], *clip_range, generator, images).tolist()
    lab = rgb_to_lab(images)
    lightness = (lab[:, :1] / 100.0).clamp(0.0, 1.0)
    # kornia takes one clip limit per call: equalise image by image (13 small images per frame)
    equalised = torch.cat(
        [equalize_clahe(lightness[i : i + 1], clip_limit=c, grid_size=(8, 8)) for i, c in enumerate(clips)]
    )
    lab = torch.cat([equalised * 100.0, lab[:, 1:]], dim=1)
    return lab_to_rgb(lab).clamp(0.0, 1.0)


def adjust_gamma(
    images: torch.Tensor,
    generator: torch.Generator | None = None,
    gamma_range: tuple[float, float] = (0.8, 1.2),
) -> torch.Tensor:
    """``x ** gamma`` with gamma ~ U(0.8, 1.2) (albumentations RandomGamma, gamma_limit=(80, 120))."""
    gamma = _uniform(images.shape[0], *gamma_range, generator, images).view(-1, 1, 1, 1)
    return images.clamp_min(0.0) ** gamma


def adjust_brightness_contrast(
    images: torch.Tensor, generator: torch.Generator | None = None, limit: float = 0.2
) -> torch.Tensor:
    """``alpha * x + beta`` with alpha ~ 1 + U(-0.2, 0.2), beta ~ U(-0.2, 0.2), clipped."""
    b = images.shape[0]
    alpha = 1.0 + _uniform(b, -limit, limit, generator, images).view(b, 1, 1, 1)
    beta = _uniform(b, -limit, limit, generator, images).view(b, 1, 1, 1)
    return (alpha * images + beta).clamp(0.0, 1.0)


def blur_median(
    images: torch.Tensor, generator: torch.Generator | None = None, max_kernel: int = 7
) -> torch.Tensor:
    """Median filter with an odd kernel drawn from 3..7 per image (albumentations MedianBlur(blur_limit=7))."""
    from kornia.filters import median_blur

    sizes = list(range(3, max_kernel + 1, 2))
    picks = torch.randint(len(sizes), (images.shape[0],), generator=generator)
    out = torch.empty_like(images)
    for i, pick in enumerate(picks.tolist()):
        out[i : i + 1] = median_blur(images[i : i + 1], sizes[pick])
    return out


def sharpen(
    images: torch.Tensor,
    generator: torch.Generator | None = None,
    alpha_range: tuple[float, float] = (0.2, 0.4),
    lightness_range: tuple[float, float] = (0.5, 1.0),
) -> torch.Tensor:
    """3x3 sharpening blended with identity: ``k = (1 - a) I + a [[-1,-1,-1],[-1,8+l,-1],[-1,-1,-1]]``."""
    b = images.shape[0]
    alpha = _uniform(b, *alpha_range, generator, images).view(b, 1, 1)
    lightness = _uniform(b, *lightness_range, generator, images).view(b, 1, 1)
    identity = torch.zeros(3, 3, dtype=images.dtype, device=images.device)
    identity[1, 1] = 1.0
    effect = -torch.ones(b, 3, 3, dtype=images.dtype, device=images.device)
    effect[:, 1, 1] = 8.0 + lightness[:, 0, 0]
    kernels = (1.0 - alpha) * identity + alpha * effect  # (batch, 3, 3)
    # one kernel per image, shared by its three channels: a grouped convolution over batch*3 channels
    weight = kernels.repeat_interleave(3, dim=0).unsqueeze(1)  # (batch*3, 1, 3, 3)
    padded = F.pad(images.reshape(1, b * 3, *images.shape[-2:]), (1, 1, 1, 1), mode="replicate")
    out = F.conv2d(padded, weight, groups=b * 3).reshape(images.shape)
    return out.clamp(0.0, 1.0)


AUGMENTATIONS: dict[str, Callable[..., torch.Tensor]] = {
    "hflip": flip_horizontal,
    "rgb_shift": shift_rgb,
    "clahe": equalize_clahe_luminance,
    "gamma": adjust_gamma,
    "brightness_contrast": adjust_brightness_contrast,
    "median_blur": blur_median,
    "sharpen": sharpen,
}


def augment_images(
    images: torch.Tensor,
    recipes: tuple[tuple[str, ...], ...] = TTA_RECIPES,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """All TTA runs of a batch of images.

    Args:
        images: (batch, 3, H, W) RGB in [0, 1].
        recipes: one tuple of augmentation names per run (applied left to right); () is the original.
    Returns:
        (batch * num_runs, 3, H, W), image-major: rows ``i * num_runs .. (i + 1) * num_runs - 1`` are image i.
    """
    runs = []
    for recipe in recipes:
        out = images
        for name in recipe:
            out = AUGMENTATIONS[name](out, generator)
        runs.append(out)
    return torch.stack(runs, dim=1).flatten(0, 1)


def undo_flips(masks: torch.Tensor, recipes: tuple[tuple[str, ...], ...] = TTA_RECIPES) -> torch.Tensor:
    """Flip back the masks of flipped runs so that every run's masks lie over the original image.

    Args:
        masks: (batch * num_runs, num_queries, h, w), image-major as returned for :func:`augment_images`.
    """
    flipped = torch.tensor(["hflip" in r for r in recipes], device=masks.device)
    flipped = flipped.repeat(masks.shape[0] // len(recipes))
    return torch.where(flipped.view(-1, 1, 1, 1), masks.flip(-1), masks)
