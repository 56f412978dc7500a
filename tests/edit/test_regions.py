"""Instance regions found on the analytic box field: ids, voxel counts, bounds, point lookup."""

from __future__ import annotations

import torch

from panolift.edit.regions import (
    compute_panoptic_ids,
    dilate_mask,
    find_instance_regions,
    grid_points,
    sample_field_grid,
)


def test_panoptic_ids_follow_the_convention(thing_mask):
    semantics = torch.zeros(3, thing_mask.shape[0])
    semantics[0, 5], semantics[1, 2], semantics[2, 6] = 1.0, 1.0, 1.0  # chair (thing), floor (stuff), sofa
    semantics[2, 0] = 2.0  # void never wins
    instance = torch.tensor([[0.1, 0.9, 0.0], [0.9, 0.1, 0.0], [0.2, 0.3, 0.5]])
    classes, ids = compute_panoptic_ids(semantics, instance, thing_mask)
    assert classes.tolist() == [5, 2, 6]
    assert ids.tolist() == [2, 0, 3]


def test_regions_of_the_box_field(box_field, thing_mask):
    grid = sample_field_grid(box_field, box_field.aabb, 32, thing_mask)
    regions = find_instance_regions(grid, density_threshold=100.0, dilation=1)
    assert sorted(regions) == [1, 4]
    chair, sofa = regions[1], regions[4]
    assert (chair.class_id, sofa.class_id) == (5, 6)
    # voxel size 1/16: the chair box 0.3 x 0.3 x 0.4 covers about 4.8 x 4.8 x 6.4 voxel centres
    assert 4 * 4 * 6 <= chair.voxel_count <= 6 * 6 * 7
    assert torch.allclose(
        chair.bounds(), torch.tensor([[-0.5, -0.2, -0.5], [-0.2, 0.1, -0.1]]), atol=1 / 16 + 1e-6
    )
    assert torch.allclose(sofa.center(), torch.tensor([0.45, 0.15, -0.35]), atol=1 / 16)
    assert chair.mask.sum() > chair.voxel_count  # dilated


def test_contains_matches_a_per_point_loop(box_field, thing_mask):
    grid = sample_field_grid(box_field, box_field.aabb, 16, thing_mask)
    region = find_instance_regions(grid, density_threshold=100.0)[1]
    points = torch.rand(500, 3) * 2.4 - 1.2  # some outside the box
    fast = region.contains(points)
    size = 2.0 / 16
    for p, got in zip(points.tolist(), fast.tolist(), strict=True):
        idx = [int((c + 1.0) // size) for c in p]
        expected = all(0 <= i < 16 for i in idx) and bool(region.mask[idx[0], idx[1], idx[2]])
        assert got == expected


def test_grid_points_are_voxel_centres():
    aabb = torch.tensor([[0.0, 0.0, 0.0], [1.0, 2.0, 4.0]])
    pts = grid_points(aabb, (2, 2, 2)).reshape(2, 2, 2, 3)
    assert torch.allclose(pts[0, 0, 0], torch.tensor([0.25, 0.5, 1.0]))
    assert torch.allclose(pts[1, 0, 1], torch.tensor([0.75, 0.5, 3.0]))


def test_dilation_grows_by_one_voxel():
    mask = torch.zeros(5, 5, 5, dtype=torch.bool)
    mask[2, 2, 2] = True
    assert int(dilate_mask(mask, 1).sum()) == 27
    assert int(dilate_mask(mask, 0).sum()) == 1


def test_robust_bounds_ignore_a_few_stray_voxels(box_field, thing_mask):
    grid = sample_field_grid(box_field, box_field.aabb, 32, thing_mask)
    region = find_instance_regions(grid, density_threshold=100.0)[1]
    region.core[0, 0, 0] = True  # one floater in a corner
    assert region.bounds()[0, 0] == -1.0
    assert torch.allclose(
        region.robust_bounds(), torch.tensor([[-0.5, -0.2, -0.5], [-0.2, 0.1, -0.1]]), atol=1 / 16
    )
