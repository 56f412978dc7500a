"""Occupancy grids: conservative around dense regions, tight boxes, one voxel convention."""

from __future__ import annotations

import pytest
import torch

from panolift.field import OccupancyGrid, compute_occupancy, occupied_aabb, voxel_centers
from panolift.field.occupancy import CLEARANCE_MAX_VOXELS


def test_occupancy_grid_skips_nothing_that_is_dense():
    def ball(points):
        return torch.where(points.norm(dim=-1) < 0.3, 50.0, 0.0)

    aabb = torch.tensor([[-1.0, -1.0, -1.0], [1.0, 1.0, 1.0]])
    grid = compute_occupancy(ball, aabb, (20, 20, 20), step_size=0.05, threshold=1e-3)
    pts = torch.rand(5000, 3) * 2 - 1
    inside = pts.norm(dim=-1) < 0.3
    assert grid.query(pts)[inside].all()
    assert grid.query(pts).float().mean() < 0.1
    box = occupied_aabb(grid, margin_voxels=0)
    assert (box[0] < -0.25).all() and (box[0] > -0.6).all() and (box[1] > 0.25).all() and (box[1] < 0.6).all()
    assert not OccupancyGrid(aabb, grid.mask).query(torch.tensor([[2.0, 0.0, 0.0]])).any()


def test_voxel_centers_are_the_centres_of_the_grid_cells():
    aabb = torch.tensor([[0.0, 0.0, 0.0], [2.0, 4.0, 6.0]])
    centers = voxel_centers(aabb, (2, 2, 3))
    assert centers.shape == (2, 2, 3, 3)
    torch.testing.assert_close(centers[0, 0, 0], torch.tensor([0.5, 1.0, 1.0]))
    torch.testing.assert_close(centers[1, 1, 2], torch.tensor([1.5, 3.0, 5.0]))
    grid = OccupancyGrid(aabb, torch.zeros(2, 2, 3, dtype=torch.bool))
    grid.mask[1, 0, 2] = True
    assert grid.query(centers.reshape(-1, 3)).reshape(2, 2, 3).equal(grid.mask)


def test_the_march_s_lookup_along_rays_agrees_with_the_grid():
    """:meth:`OccupancyGrid.along_rays` (samples given as ray and distance, the march's way) answers as
    :meth:`OccupancyGrid.query` does at the sample's point, outside the box included."""
    gen = torch.Generator().manual_seed(0)
    aabb = torch.tensor([[-1.0, -0.5, 0.0], [1.0, 0.7, 0.4]])
    grid = OccupancyGrid(aabb, torch.rand(7, 5, 3, generator=gen) > 0.5)
    origins = torch.randn(50, 3, generator=gen) * 0.2 + torch.tensor([0.0, 0.1, 0.2])
    dirs = torch.nn.functional.normalize(torch.randn(50, 3, generator=gen), dim=-1)
    rays = torch.randint(50, (10001,), generator=gen)  # on 2 threads: 2 chunks, the second padded
    t = torch.rand(10001, generator=gen)
    points = origins[rays] + t[:, None] * dirs[rays]
    expected = grid.query(points)
    outside = ((points < aabb[0]) | (points > aabb[1])).any(dim=-1)
    assert 0.2 < float(outside.float().mean()) < 0.8 and 0.1 < float(expected.float().mean()) < 0.5
    threads = torch.get_num_threads()
    try:
        for count in (1, 2):
            torch.set_num_threads(count)
            assert grid.along_rays(origins, dirs)(rays, t).equal(expected)
    finally:
        torch.set_num_threads(threads)


def test_clearance_is_the_chessboard_distance_to_occupied_voxels_less_one():
    """Clearance = (D - 1) x the shortest voxel edge, D the chessboard distance (in voxels) to the nearest
    occupied voxel, checked by brute force; outside the grid counts as empty."""
    gen = torch.Generator().manual_seed(1)
    aabb = torch.tensor([[0.0, 0.0, 0.0], [3.0, 2.0, 1.5]])
    mask = torch.rand(12, 10, 6, generator=gen) > 0.97
    clearance = OccupancyGrid(aabb, mask).clearance()
    edge = min(3.0 / 12, 2.0 / 10, 1.5 / 6)
    cells = torch.stack(torch.meshgrid(*(torch.arange(n) for n in mask.shape), indexing="ij"), -1).reshape(
        -1, 3
    )
    occupied = mask.nonzero()
    chessboard = (cells[:, None, :] - occupied[None, :, :]).abs().amax(-1).amin(-1).reshape(mask.shape)
    expected = (chessboard.float() - 1).clamp_min(0) * edge
    torch.testing.assert_close(clearance, expected)
    far = OccupancyGrid(aabb, torch.zeros(40, 4, 4, dtype=torch.bool))  # nothing occupied: capped
    assert float(far.clearance().max()) == pytest.approx((CLEARANCE_MAX_VOXELS - 1) * 3.0 / 40)


def test_a_leap_skips_only_empty_steps_and_keeps_the_others_in_place():
    """From t_near the leap moves each ray by whole steps; every step it skips is in an empty voxel (by
    the grid's own lookup), and in a room-like grid (occupied walls, empty inside) it skips most of them."""
    gen = torch.Generator().manual_seed(2)
    aabb = torch.tensor([[-1.0, -1.0, -0.5], [1.0, 1.0, 0.5]])
    mask = torch.zeros(32, 32, 16, dtype=torch.bool)
    mask[:2], mask[-2:], mask[:, :2], mask[:, -2:], mask[:, :, :2], mask[:, :, -2:] = (True,) * 6
    mask |= torch.rand(mask.shape, generator=gen) > 0.995  # clutter in the room
    grid = OccupancyGrid(aabb, mask)
    origins = torch.rand(300, 3, generator=gen) * torch.tensor([1.0, 1.0, 0.4]) - torch.tensor(
        [0.5, 0.5, 0.2]
    )
    dirs = torch.nn.functional.normalize(torch.randn(300, 3, generator=gen), dim=-1)
    step = 0.011
    t_near, t_far = torch.full((300,), 0.02), torch.full((300,), 3.0)
    lookup = grid.along_rays(origins, dirs)
    leapt = lookup.leap(t_near, t_far, step)
    skipped = (leapt - t_near) / step
    torch.testing.assert_close(skipped, skipped.round(), atol=1e-3, rtol=0)  # whole steps
    k = torch.arange(400, dtype=torch.float32)
    for u in (0.0, 0.5, 0.999):  # wherever in its step the sample sits
        t = t_near[:, None] + (k[None, :] + u) * step
        before = t < leapt[:, None] - 1e-6
        rays = torch.arange(300)[:, None].expand_as(t)
        assert not bool(lookup(rays[before], t[before]).any())
    reached = lookup(torch.arange(300), leapt)
    assert float(skipped.mean()) > 20 and float(reached.float().mean()) < 1  # most of the way, not all
    # each ray leaps as it would alone (the jumps after the first read only the rays still moving);
    # rays that start past their exit or on a wall do not move
    t_far_mixed = torch.where(torch.arange(300) % 7 == 0, t_near, t_far)
    together = lookup.leap(t_near, t_far_mixed, step)
    alone = torch.cat(
        [grid.along_rays(origins[i : i + 1], dirs[i : i + 1]).leap(t_near[i : i + 1], t_far_mixed[i : i + 1], step)
         for i in range(300)]
    )  # fmt: skip
    torch.testing.assert_close(together, alone, rtol=0, atol=0)
    assert bool((together[::7] == t_near[::7]).all()) and bool((together != t_near).any())


def test_the_grid_object_and_its_clearance_are_kept_while_the_mask_is():
    from panolift.config import tiny_config
    from panolift.field import PanopticField

    field = PanopticField(tiny_config().field, num_classes=5)
    assert field.occupancy is None
    field.set_occupancy(field.aabb, torch.zeros(8, 8, 8, dtype=torch.bool))
    grid = field.occupancy
    assert field.occupancy is grid and grid.clearance() is grid.clearance()
    field.set_occupancy(field.aabb, torch.ones(8, 8, 8, dtype=torch.bool))  # recomputed: a new grid
    assert field.occupancy is not grid and float(field.occupancy.clearance().max()) == 0.0
