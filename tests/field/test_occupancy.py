"""Occupancy grids: conservative around dense regions, tight boxes, one voxel convention."""

from __future__ import annotations

import torch

from panolift.field import OccupancyGrid, compute_occupancy, occupied_aabb, voxel_centers


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
