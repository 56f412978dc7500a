"""Blurred frames of a moving camera: how sharp each training image is against the views most like it.

A hand-held capture blurs some frames (the camera moved while the shutter was open), and a radiance field
fitted to every frame alike averages the blurred ones into its colour (and so into its geometry's edges).
Sharpness alone does not say which frames are blurred (a plain wall is never sharp), so each frame is
compared with the frames whose cameras stand and look most alike: a frame as sharp as the median of those
keeps its full weight, a frame half as sharp as them gets (1/2)^p (``loss.sharp_frames`` = p).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage


def frame_sharpness(image: np.ndarray) -> float:
    """Mean absolute Laplacian of the image's grey values ((H, W, 3) floats in [0, 1]): its fine detail,
    which blur takes first."""
    grey = np.asarray(image, dtype=np.float64).mean(axis=-1)
    return float(np.abs(ndimage.laplace(grey, mode="nearest")).mean())


def similar_views(c2w: np.ndarray, count: int, metres_per_radian: float = 1.0) -> np.ndarray:
    """(N, min(count, N)) indices of each camera's most alike cameras, itself first: by the distance between
    their centres plus the angle between their viewing directions (``metres_per_radian`` metres a radian)."""
    centres, forward = c2w[:, :3, 3], c2w[:, :3, 2]
    distance = np.linalg.norm(centres[:, None] - centres[None], axis=-1)
    angle = np.arccos(np.clip(forward @ forward.T, -1.0, 1.0))
    return np.argsort(distance + metres_per_radian * angle, axis=1, kind="stable")[:, :count]


def sharpness_weights(sharpness: np.ndarray, c2w: np.ndarray, power: float, count: int = 9) -> np.ndarray:
    """(N,) colour weights of N frames: min(1, s_f / median of s over f's ``count`` most alike views)^power
    (:func:`similar_views`, f among them). All ones for power 0 or fewer than three frames."""
    sharpness = np.asarray(sharpness, dtype=np.float64)
    if power == 0.0 or len(sharpness) < 3:
        return np.ones(len(sharpness))
    reference = np.median(sharpness[similar_views(c2w, count)], axis=1)
    ratio = np.where(reference > 0, sharpness / np.maximum(reference, 1e-12), 1.0)
    return np.minimum(ratio, 1.0) ** power
