"""Instance regions found on the analytic box field: ids, voxel counts, bounds, point lookup."""

from __future__ import annotations

import dataclasses

import torch

from panolift.edit.regions import dilate_mask, find_instance_regions, sample_field_grid
from panolift.field import voxel_centers
from panolift.render import compute_panoptic_ids


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


# --- visibility: unseen interiors belong to their object; floaters leave the region ---------------------

SOFA_INSIDE = (
    (0.3, 0.08, -0.42),
    (0.6, 0.22, -0.28),
)  # well inside the sofa box (0.2..0.7, 0..0.3, -0.5..-0.2)


def training_rays(width: int = 32, height: int = 24) -> tuple[torch.Tensor, torch.Tensor]:
    """Rays of four views around the analytic room (field coordinates = world here)."""
    from panolift.scene import generate_rays

    boxes = load_helpers()
    K = torch.tensor([[25.0, 0.0, width / 2], [0.0, 25.0, height / 2], [0.0, 0.0, 1.0]])
    target = (0.1, 0.1, -0.35)
    positions = [(0.0, -1.5, 0.3), (1.5, -0.3, 0.2), (-1.5, -0.3, 0.2), (0.1, 0.6, 0.7)]
    rays = [generate_rays(K, boxes.look_at(p, target), width, height) for p in positions]
    return torch.cat([o for o, _ in rays]), torch.cat([d for _, d in rays])


def load_helpers():
    import sys

    return sys.modules["panolift_edit_test_helpers"]


def settings_with_visibility():
    from panolift.config import RegionConfig

    return RegionConfig(resolution=64, density_threshold=100.0, dilation=1)


def inside_voxels(region, lo, hi) -> torch.Tensor:
    """(X, Y, Z) bool: voxels whose centre lies in the box [lo, hi)."""
    centres = voxel_centers(region.aabb, tuple(region.core.shape))
    return ((centres >= torch.tensor(lo)) & (centres < torch.tensor(hi))).all(dim=-1)


def test_unseen_inside_of_an_object_gets_its_id_and_is_deleted_with_it(box_field_cls, thing_mask, render_fn):
    """The sofa's inside is floor-labelled (stuff) and dark, as an untrained interior can be: with the
    training views' visibility it belongs to the sofa, and deleting the sofa removes it."""
    from panolift.edit.edits import Edit, EditList, apply_edits, find_regions

    boxes = load_helpers()
    field = box_field_cls(boxes=boxes.BOXES + [(*SOFA_INSIDE, 2, -1, (0.02, 0.02, 0.02))])
    rays = training_rays()
    settings = settings_with_visibility()
    grid, seen = find_regions(field, thing_mask, settings, rays=rays)
    _, blind = find_regions(field, thing_mask, settings)  # no rays: the field's labels as they are
    inside = inside_voxels(seen[4], *SOFA_INSIDE)
    assert inside.sum() > 100
    assert seen[4].core[inside].all()  # the inside belongs to the sofa ...
    assert not blind[4].core[inside].any()  # ... which the field's own labels do not say
    assert not grid.visible[inside].any()
    # the visible surface: most of the sofa's boundary voxels, and none inside
    assert grid.visible[seen[4].core & ~inside].float().mean() > 0.3

    K = torch.tensor([[50.0, 0.0, 32.0], [0.0, 50.0, 24.0], [0.0, 0.0, 1.0]])
    c2w = boxes.look_at((0.45, -1.2, 0.2), (0.45, 0.15, -0.35))
    before = render_fn(field, K, c2w, 64, 48)
    was_sofa = before["instance"] == 4
    assert was_sofa.sum() > 100
    for rays_used, deleted_inside in ((rays, True), (None, False)):
        edited = apply_edits(
            field, EditList("x", [Edit("delete", 4)], region=settings), thing_mask, 1.0, rays=rays_used
        )
        after = render_fn(edited, K, c2w, 64, 48)
        gain = after["depth"][was_sofa] - before["depth"][was_sofa]
        dark = after["rgb"][was_sofa].mean(dim=-1) < 0.1
        if deleted_inside:  # the floor and wall behind the sofa, nothing dark in between
            assert (gain > 1e-3).all() and gain.mean() > 0.3 and dark.float().mean() < 0.02
        else:  # the old regions leave the dark inside standing where the sofa was
            assert dark.float().mean() > 0.15  # measured 0.22: the inside's share of the sofa's picture


def test_a_far_floater_with_the_instance_id_leaves_the_region(box_field_cls, thing_mask):
    from panolift.edit.edits import find_regions

    boxes = load_helpers()
    floater = ((0.5, -0.6, 0.3), (0.57, -0.53, 0.37))  # in view, in the air, the chair's class and slot
    field = box_field_cls(boxes=boxes.BOXES + [(*floater, 5, 0, (0.9, 0.1, 0.1))])
    settings = settings_with_visibility()
    _, seen = find_regions(field, thing_mask, settings, rays=training_rays())
    slots_only = dataclasses.replace(settings, split_pieces=False)
    _, seen_slots = find_regions(field, thing_mask, slots_only, rays=training_rays())
    _, blind = find_regions(field, thing_mask, slots_only)
    _, blind_pieces = find_regions(field, thing_mask, settings)
    chair_box = torch.tensor([[-0.5, -0.2, -0.5], [-0.2, 0.1, -0.1]])
    for regions in (seen, seen_slots, blind_pieces):
        assert torch.allclose(regions[1].bounds(), chair_box, atol=1 / 32 + 1e-6)
        at_floater = inside_voxels(regions[1], *floater)
        assert at_floater.any() and not regions[1].core[at_floater].any()
        assert not regions[1].mask[at_floater].any()
    assert sorted(seen) == sorted(blind_pieces) == [1, 4]  # too small to be an instance of its own
    # one instance per slot and no visibility (the paper's regions): the floater is part of the chair
    assert blind[1].core[at_floater].all()
    assert blind[1].bounds()[1, 2] > 0.3


def test_keep_main_components_and_nearest_visible_labels():
    from panolift.edit.regions import keep_main_components, label_unobserved_voxels

    mask = torch.zeros(10, 10, 10, dtype=torch.bool)
    mask[1:4, 1:4, 1:4] = True  # 27 voxels
    mask[8, 8, 8] = True  # a floater
    mask[5, 1:4, 1:4] = True  # 9 voxels, touching nothing (row 4 is empty)
    kept = keep_main_components(mask, 0.5)
    assert kept[1:4, 1:4, 1:4].all() and not kept[8, 8, 8] and not kept[5].any()
    assert keep_main_components(mask, 0.0).equal(mask)
    visible = torch.zeros_like(mask)
    visible[8, 8, 8] = True  # judged by what was seen, the floater wins
    assert keep_main_components(mask, 0.5, weight=visible).sum() == 1

    ids = torch.full((10, 10, 10), 7)
    ids[1:4, 1:4, 1:4] = 3
    ids[2, 2, 2] = 9  # an unseen, arbitrary label inside
    occupied = ids > 0
    seen = torch.zeros_like(mask)
    seen[1, 1:4, 1:4] = True  # one face of the cube, and the far corner of the 7s
    seen[9, 9, 9] = True
    new_ids, new_classes = label_unobserved_voxels(ids, ids.clone(), occupied, seen)
    assert (new_ids[1:4, 1:4, 1:4] == 3).all() and new_ids[9, 9, 9] == 7 and new_ids[0, 0, 0] == 3
    assert torch.equal(new_ids, new_classes)
    assert torch.equal(label_unobserved_voxels(ids, ids, occupied, torch.zeros_like(mask))[0], ids)
