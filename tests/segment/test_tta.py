"""Test-time augmentations: 13 runs in a fixed order, deterministic, in range, flips undone."""

from __future__ import annotations

import torch

from panolift.segment.tta import (
    NUM_TTA_RUNS,
    TTA_RECIPES,
    adjust_gamma,
    augment_images,
    blur_median,
    equalize_clahe_luminance,
    sharpen,
    shift_rgb,
    undo_flips,
)


def _images(batch=2, h=24, w=32):
    g = torch.Generator().manual_seed(1)
    return torch.rand(batch, 3, h, w, generator=g)


def test_thirteen_runs_original_first_and_image_major():
    assert NUM_TTA_RUNS == 13 and TTA_RECIPES[0] == ()
    assert sum(len(r) == 1 for r in TTA_RECIPES) == 7 and sum(len(r) == 2 for r in TTA_RECIPES) == 5
    images = _images()
    runs = augment_images(images, generator=torch.Generator().manual_seed(0))
    assert runs.shape == (2 * 13, 3, 24, 32)
    assert torch.equal(runs[0], images[0]) and torch.equal(runs[13], images[1])
    flip = TTA_RECIPES.index(("hflip",))
    assert torch.equal(runs[flip], images[0].flip(-1))
    assert runs.min() >= 0.0 and runs.max() <= 1.0
    # every augmentation changes the image
    for r in range(1, 13):
        assert not torch.allclose(runs[r], images[0]), TTA_RECIPES[r]


def test_augmentations_are_reproducible_from_the_seed():
    images = _images()
    a = augment_images(images, generator=torch.Generator().manual_seed(5))
    b = augment_images(images, generator=torch.Generator().manual_seed(5))
    c = augment_images(images, generator=torch.Generator().manual_seed(6))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_undo_flips_puts_masks_of_flipped_runs_back():
    masks = torch.zeros(2 * 13, 4, 6, 8)
    masks[:, :, :, :3] = 1.0  # everything on the left
    flip = TTA_RECIPES.index(("hflip",))
    masks[flip] = masks[flip].flip(-1)  # the flipped runs saw it on the right
    masks[13 + flip] = masks[13 + flip].flip(-1)
    restored = undo_flips(masks)
    assert torch.equal(restored[:, :, :, :3], torch.ones(26, 4, 6, 3))
    assert restored[:, :, :, 3:].sum() == 0


def test_single_augmentations_behave():
    images = _images(batch=1)
    g = torch.Generator().manual_seed(0)
    # a gamma of 1 is the identity; gammas above 1 darken
    assert torch.allclose(adjust_gamma(images, g, gamma_range=(1.0, 1.0)), images)
    assert (adjust_gamma(images, g, gamma_range=(1.2, 1.2)) <= images + 1e-6).all()
    # no blend is the identity; a constant image stays constant under sharpening and median blur
    assert torch.allclose(sharpen(images, g, alpha_range=(0.0, 0.0)), images, atol=1e-6)
    flat = torch.full((1, 3, 16, 16), 0.4)
    assert torch.allclose(sharpen(flat, g, lightness_range=(1.0, 1.0)), flat, atol=1e-5)  # kernel sums to 1
    assert torch.allclose(blur_median(flat, g), flat)
    # a channel shift moves each channel by one constant (where nothing clips)
    mid = torch.full((1, 3, 8, 8), 0.5)
    shifted = shift_rgb(mid, g) - mid
    assert torch.allclose(shifted, shifted[:, :, :1, :1].expand_as(shifted))
    # CLAHE stretches the contrast of a low-contrast image
    low = 0.45 + 0.1 * images
    out = equalize_clahe_luminance(low, g)
    assert out.shape == low.shape and out.std() > low.std()
