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
