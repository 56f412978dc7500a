"""Progressive rendering: which image sizes to render, in which pieces, and when (pure scheduling).

After the camera moves, the first image must come fast (``first_image_seconds``, 0.25 s by default) at
whatever resolution the field allows; then images grow by ``growth`` per side until the canvas (capped at
``max_side``) is reached. Sizes follow the measured speed of the field on this machine
(:class:`Throughput`, rays per second), so a 2-core CPU starts at ~80 x 60 and a GPU at the full canvas.

Every pass is rendered in horizontal bands of about ``band_seconds`` each (:func:`plan_bands`): a camera
move between two bands abandons the pass, so a sharp image that takes seconds never delays the next
fast one by more than one band. A band is an ordinary view whose principal point is shifted up by the
band's first row (:func:`band_intrinsics`), so the renderer needs no notion of tiles. Passes before the
last are previews: they also sample more coarsely (:func:`preview_render_config`, ~3x faster, about 1% off
in colour), the last one renders with the run's own settings.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

from panolift.config import RenderConfig


@dataclass
class ProgressiveConfig:
    """How the viewer renders after a camera move."""

    first_image_seconds: float = 0.25
    """Time budget of the first image after the camera moves (its size follows the measured speed)."""
    band_seconds: float = 0.12
    """Passes are rendered in bands of about this long; a camera move abandons a pass between bands."""
    growth: float = 2.0
    """Side ratio between successive passes."""
    min_side: int = 16
    """Smallest longest side of an image."""
    max_side: int = 1024
    """Largest longest side of an image (the canvas caps it too)."""
    preview_step_factor: float = 2.0
    """Passes before the last sample rays this many times more coarsely than the run's settings."""
    preview_max_evaluated: int = 4
    """Passes before the last evaluate colour and heads at this many samples per ray (at most)."""
    max_busy_fraction: float = 1.0
    """At most this share of wall time is spent rendering (1: no limit). Live viewing while training uses
    ~0.05, so that the viewer takes little from training."""


class Throughput:
    """Rays per second of the field on this machine: an exponential moving average of measured passes.

    rate <- (1 - a) rate + a (rays / seconds), with ``a`` = ``smoothing``; the first measurement replaces
    the initial guess."""

    def __init__(self, initial: float = 20_000.0, smoothing: float = 0.5):
        self.rays_per_second, self.smoothing, self.measured = float(initial), float(smoothing), False

    def update(self, num_rays: int, seconds: float) -> None:
        if num_rays <= 0 or seconds <= 0:
            return
        rate = num_rays / seconds
        a = 1.0 if not self.measured else self.smoothing
        self.rays_per_second = (1.0 - a) * self.rays_per_second + a * rate
        self.measured = True

    def seconds_for(self, num_rays: int) -> float:
        return num_rays / max(self.rays_per_second, 1e-9)


def scaled_size(canvas: tuple[int, int], scale: float) -> tuple[int, int]:
    """``canvas`` (width, height) times ``scale`` (<= 1), each side at least 1."""
    width, height = canvas
    return max(1, round(width * scale)), max(1, round(height * scale))


def plan_passes(
    canvas: tuple[int, int], rays_per_second: float, config: ProgressiveConfig
) -> list[tuple[int, int]]:
    """Image sizes (width, height), growing, for a camera that just moved over a ``canvas`` (w, h).

    The last is the canvas scaled down to ``max_side``; the first has about ``rays_per_second *
    first_image_seconds`` pixels (and a longest side of at least ``min_side``); between them each side
    grows by ``growth``. One size when the field is fast enough for the full image at once."""
    width, height = canvas
    if width <= 0 or height <= 0:
        return []
    full_scale = min(1.0, config.max_side / max(width, height))
    full = scaled_size(canvas, full_scale)
    budget = max(1.0, rays_per_second * config.first_image_seconds)
    first_scale = min(full_scale, math.sqrt(budget / (width * height)))
    first_scale = max(first_scale, min(full_scale, config.min_side / max(width, height)))
    sizes = [scaled_size(canvas, first_scale)]
    scale = first_scale
    while sizes[-1] != full:
        scale = min(full_scale, scale * config.growth)
        size = full if scale >= full_scale else scaled_size(canvas, scale)
        if size != sizes[-1]:
            sizes.append(size)
    return sizes


def plan_bands(width: int, height: int, rays_per_second: float, band_seconds: float) -> list[tuple[int, int]]:
    """Row ranges [start, stop) that split a ``width`` x ``height`` image into bands of about
    ``band_seconds`` each (at least one row, equal heights but the last)."""
    rows = max(1, int(rays_per_second * band_seconds / max(width, 1)))
    return [(start, min(height, start + rows)) for start in range(0, height, rows)]


def band_intrinsics(K: np.ndarray, first_row: int) -> np.ndarray:
    """K of the band of an image that starts at ``first_row``: the same camera, cy - first_row."""
    out = np.array(K, dtype=np.float64, copy=True)
    out[1, 2] -= first_row
    return out


def pause_after(seconds_busy: float, max_busy_fraction: float) -> float:
    """Idle time after ``seconds_busy`` of rendering that keeps rendering at ``max_busy_fraction`` of wall
    time: t_busy (1 / f - 1); 0 without a limit (f >= 1)."""
    if max_busy_fraction >= 1.0:
        return 0.0
    return seconds_busy * (1.0 / max(max_busy_fraction, 1e-3) - 1.0)


def preview_render_config(config: RenderConfig, progressive: ProgressiveConfig) -> RenderConfig:
    """The run's render settings made cheaper for preview passes: steps ``preview_step_factor`` times
    longer, at most ``preview_max_evaluated`` samples per ray evaluated for colour and heads."""
    cap = progressive.preview_max_evaluated
    evaluated = cap if config.max_evaluated_per_ray <= 0 else min(config.max_evaluated_per_ray, cap)
    return dataclasses.replace(
        config,
        step_ratio=config.step_ratio * progressive.preview_step_factor,
        max_evaluated_per_ray=evaluated,
    )
