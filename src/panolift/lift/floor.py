"""The floor's height from matched surface points (:meth:`panolift.lift.trainer.Trainer.floor_height`).

The heights of the matched points whose pixels the training labels call floor pile up where a floor is:
one slab for a flat floor, one per level for a raised stage, a dais or a split level. A glossy floor's
reflections (the room mirrored under it, which stereo matches at its mirrored depth) add a tail that
falls off smoothly below it. The cut under the floor goes under the *lowest level*: the lowest pile of
floor heights that stands out of the tail (its prominence, its height over the lowest count between it
and the level above it, at least :data:`LEVEL_PROMINENCE` of the biggest pile's).
"""

from __future__ import annotations

import torch

LEVEL_PROMINENCE = 0.3
"""A pile of floor heights is a level of its own when it rises this share of the biggest pile's count
over the valley between it and the level above (rooms with a raised floor: the lower floor's pile is 0.8
of the platform's, its valley 0.2; the strongest synthetic mirror coat's tail never rises 0.1 over its
valleys; 200-point subsamples of both keep these answers)."""
MAX_OTHERS_UNDER = 0.03
"""No cut when more than this share of the matched points of other classes would lie under it (a lower
floor with things standing on it that the floor's heights did not show as a level; single-level rooms
have 0.1-1.3% there, bad matches and the reflections of glossy furniture)."""


def window_counts(heights: torch.Tensor, slab: float) -> tuple[torch.Tensor, torch.Tensor, float]:
    """Counts of ``heights`` in windows of two ``slab``-wide bins (half-overlapping), as they are and
    averaged over three neighbouring windows; and the lowest height (window i is centred at
    low + (i + 1) slab)."""
    low = float(heights.min())
    counts = torch.bincount(torch.floor((heights - low) / slab).long()).double()
    windows = counts + torch.nn.functional.pad(counts[1:], (0, 1))
    smooth = torch.nn.functional.avg_pool1d(windows[None, None], 3, 1, 1, count_include_pad=False)[0, 0]
    return windows, smooth, low


def floor_levels(heights: torch.Tensor, slab: float, prominence: float = LEVEL_PROMINENCE) -> list[float]:
    """The floor's levels among ``heights`` (1-D, floor-labelled matched points), from the biggest pile
    down: the densest window's centre, then each lower pile that rises ``prominence`` of the biggest
    pile's count over the valley between it and the previous level (both in the windows averaged over
    three neighbours). Heights in the units of ``slab`` (the bin width). A floor of one level gives the
    densest window, as stop 74's rule did."""
    if heights.numel() == 0:
        return []
    windows, counts, low = window_counts(heights.double(), slab)
    peak = int(windows.argmax())
    top = float(counts.max())
    levels = [peak]
    valley, i = float(counts[peak]), peak - 1
    while i >= 0:
        valley = min(valley, float(counts[i]))
        if float(counts[i]) - valley >= prominence * top:
            while i > 0 and counts[i - 1] >= counts[i]:  # climb to the pile's top
                i -= 1
            levels.append(i)
            valley = float(counts[i])
        i -= 1
    return [low + (level + 1.0) * slab for level in levels]


def refined_height(heights: torch.Tensor, centre: float, slab: float) -> float:
    """The median of ``heights`` within ``slab`` of ``centre`` (a level's height, finer than its window)."""
    near = heights[(heights - centre).abs() <= slab]
    return float(near.median()) if near.numel() else centre
