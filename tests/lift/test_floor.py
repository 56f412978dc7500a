"""The floor's levels in the heights of floor-labelled matched points (``panolift.lift.floor``): a flat
floor, a raised floor's two levels, and a glossy floor's reflections, which are no level."""

from __future__ import annotations

import torch

from panolift.lift.floor import floor_levels, refined_height, window_counts

CM = 0.01


def piles(*spec: tuple[float, int], spread: float = 1.5 * CM, seed: int = 0) -> torch.Tensor:
    """Heights: ``count`` points around each ``height`` (normal, ``spread``)."""
    g = torch.Generator().manual_seed(seed)
    return torch.cat([h + spread * torch.randn(n, generator=g, dtype=torch.float64) for h, n in spec])


def test_a_flat_floor_is_one_level_at_its_height():
    heights = piles((0.0, 800))
    levels = floor_levels(heights, 2 * CM)
    assert len(levels) == 1 and abs(levels[0]) < 2 * CM
    assert abs(refined_height(heights, levels[0], 2 * CM)) < 0.5 * CM


def test_a_raised_floor_keeps_the_lower_level_whichever_pile_is_bigger():
    for lower, upper in ((500, 800), (800, 500), (300, 900)):
        heights = piles((0.0, lower), (0.3, upper))
        levels = floor_levels(heights, 2 * CM)
        # the biggest pile first, then the levels under it (none above it is looked for: the cut goes
        # under the lowest)
        assert len(levels) == (1 if lower > upper else 2), (lower, upper)
        assert abs(levels[-1]) < 2 * CM and abs(refined_height(heights, levels[-1], 2 * CM)) < 0.5 * CM
        assert abs(levels[0] - (0.0 if lower > upper else 0.3)) < 2 * CM
    # a lower pile too small to stand out (a tenth of the biggest) is not a level
    assert len(floor_levels(piles((0.0, 80), (0.3, 800)), 2 * CM)) == 1


def test_a_glossy_floors_reflections_under_it_are_no_level():
    g = torch.Generator().manual_seed(1)
    # the room mirrored under the floor: matches at heights that thin out with depth (down to -1.5 m)
    tail = -1.5 * torch.rand(3000, generator=g, dtype=torch.float64) ** 2
    for floor in (800, 300):
        heights = torch.cat([piles((0.0, floor)), tail[: 3 * floor]])
        levels = floor_levels(heights, 2 * CM)
        assert len(levels) == 1 and abs(refined_height(heights, levels[0], 2 * CM)) < 1.5 * CM, floor
    # and 200 points of such a floor keep the answer
    heights = torch.cat([piles((0.0, 120), seed=3), tail[:80]])
    assert abs(refined_height(heights, floor_levels(heights, 2 * CM)[-1], 2 * CM)) < 3 * CM


def test_window_counts_and_no_heights():
    windows, smooth, low = window_counts(torch.tensor([0.0, 0.005, 0.03]), 0.02)
    assert low == 0.0 and windows.tolist() == [3.0, 1.0] and smooth.tolist() == [2.0, 2.0]
    assert floor_levels(torch.zeros(0), 0.02) == []
