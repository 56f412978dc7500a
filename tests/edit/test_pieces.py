"""Pieces of a slot (issue 13): two chairs far apart that the field gave the same slot are two 3D
instances, in the region finder, in the instance table's per-pixel ids and through edits (ids stay)."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from panolift.config import RegionConfig
from panolift.edit import EXTRA_ID_BASE, Edit, EditList, InstanceTable, apply_edits, find_regions
from panolift.edit.edits import edited_regions

SECOND_CHAIR = (
    (0.4, -0.7, -0.5),
    (0.65, -0.45, -0.15),
    5,
    0,
    (0.9, 0.3, 0.1),
)  # slot 0 as the first; smaller
CHAIR_A = ((-0.5, -0.2, -0.5), (-0.2, 0.1, -0.1))
CHAIR_B = SECOND_CHAIR[:2]
SETTINGS = RegionConfig(resolution=64, density_threshold=100.0, dilation=1, visibility_rays=0)


def helpers():
    import sys

    return sys.modules["panolift_edit_test_helpers"]


@pytest.fixture(scope="module")
def field(box_field_cls):
    return box_field_cls(boxes=helpers().BOXES + [SECOND_CHAIR])


@pytest.fixture(scope="module")
def view():
    """(K, c2w, width, height) of a camera that sees both chairs and the sofa."""
    K = torch.tensor([[40.0, 0.0, 32.0], [0.0, 40.0, 24.0], [0.0, 0.0, 1.0]])
    return K, helpers().look_at((0.0, -1.8, 0.6), (0.1, -0.2, -0.3)), 64, 48


def render_ids(field, view, table: InstanceTable | None):
    """(rendering, ids): the analytic marcher's slot ids mapped through ``table`` at the rays' ends."""
    from panolift.scene import generate_rays

    K, c2w, width, height = view
    out = helpers().march(field, K, c2w, width, height)
    origins, dirs = generate_rays(K, c2w, width, height)
    t = (out["depth"] - (1 - out["opacity"]) * 5.0) / out["opacity"].clamp_min(1e-6)  # expected end
    points = origins + dirs * t.reshape(-1, 1)
    ids = out["instance"].reshape(-1)
    if table is not None:
        ids = table.ids_at(points, ids)
    return out, ids.reshape(height, width)


def pixels_of(view, box) -> torch.Tensor:
    """(H, W) bool: pixels whose ray ends inside ``box`` in the unedited analytic scene."""
    from panolift.scene import generate_rays

    K, c2w, width, height = view
    out = helpers().march(helpers().BoxField(boxes=helpers().BOXES + [SECOND_CHAIR]), K, c2w, width, height)
    origins, dirs = generate_rays(K, c2w, width, height)
    t = (out["depth"] - (1 - out["opacity"]) * 5.0) / out["opacity"].clamp_min(1e-6)
    end = origins + dirs * t.reshape(-1, 1)
    lo, hi = (torch.tensor(v) for v in box)
    inside = ((end >= lo - 0.02) & (end <= hi + 0.02)).all(dim=-1) & (out["opacity"].reshape(-1) > 0.5)
    return inside.reshape(height, width)


def test_two_chairs_of_one_slot_are_two_instances(field, thing_mask):
    grid, regions = find_regions(field, thing_mask, SETTINGS)
    assert sorted(regions) == [1, 4, EXTRA_ID_BASE]
    a, b = regions[1], regions[EXTRA_ID_BASE]
    assert a.class_id == b.class_id == 5 and a.slot_id == b.slot_id == 1 and a.shares_slot and b.shares_slot
    assert not regions[4].shares_slot
    assert torch.allclose(a.bounds(), torch.tensor(CHAIR_A), atol=1 / 32 + 1e-6)
    assert torch.allclose(b.bounds(), torch.tensor(CHAIR_B), atol=1 / 32 + 1e-6)
    # the paper's regions: one instance per slot, both chairs in it
    _, slots = find_regions(field, thing_mask, dataclasses.replace(SETTINGS, split_pieces=False))
    assert sorted(slots) == [1, 4] and slots[1].voxel_count == pytest.approx(a.voxel_count + b.voxel_count)


def test_an_embedding_fields_instances_are_not_cut_into_pieces(box_field_cls, thing_mask):
    """By default (``split_pieces`` None) only a slot field is cut into pieces: an embedding field's
    clusters are objects already, and its pieces would be fragments of one (SUITE.md, twentieth round)."""
    from types import SimpleNamespace

    from panolift.edit.edits import split_pieces_of

    embedding = box_field_cls(boxes=helpers().BOXES + [SECOND_CHAIR])
    embedding.config = SimpleNamespace(instance_embedding=8)
    assert SETTINGS.split_pieces is None
    assert split_pieces_of(embedding, SETTINGS) is False
    _, regions = find_regions(embedding, thing_mask, SETTINGS)
    assert sorted(regions) == [1, 4] and not regions[1].shares_slot  # the two chairs: one cluster, one id
    forced = dataclasses.replace(SETTINGS, split_pieces=True)  # an explicit setting wins
    assert sorted(find_regions(embedding, thing_mask, forced)[1]) == [1, 4, EXTRA_ID_BASE]


def test_every_pixel_takes_the_id_of_its_own_chair(field, thing_mask, view):
    grid, regions = find_regions(field, thing_mask, SETTINGS)
    table = InstanceTable.from_regions(regions, grid.aabb, grid.resolution)
    _, slot_ids = render_ids(field, view, None)
    _, ids = render_ids(field, view, table)
    on_a, on_b = (pixels_of(view, box) & (slot_ids == 1) for box in (CHAIR_A, CHAIR_B))  # one slot ...
    assert on_a.sum() > 30 and on_b.sum() > 30 and (on_a | on_b).sum() >= 0.97 * (slot_ids == 1).sum()
    assert (ids[on_a] == 1).all() and (ids[on_b] == EXTRA_ID_BASE).all()  # ... two instances
    assert torch.equal(ids[slot_ids == 4], slot_ids[slot_ids == 4])  # the sofa keeps its id
    assert torch.equal(ids == 0, slot_ids == 0)  # stuff stays stuff
    # a point far from both chairs falls back to the chair whose centre is nearest
    far = torch.tensor([[0.9, -0.9, 0.9], [-0.9, 0.0, 0.9]])
    assert table.ids_at(far, torch.tensor([1, 1])).tolist() == [EXTRA_ID_BASE, 1]


def test_deleting_one_chair_keeps_the_other_and_every_id(field, thing_mask, view):
    table_of = lambda f: InstanceTable.from_regions(  # noqa: E731
        edited_regions(f), next(iter(edited_regions(f).values())).aabb, (64, 64, 64)
    )
    before, slot_ids = render_ids(field, view, None)
    on_a, on_b = (pixels_of(view, box) & (slot_ids == 1) for box in (CHAIR_A, CHAIR_B))
    for gone, kept, on_gone, on_kept in ((1, EXTRA_ID_BASE, on_a, on_b), (EXTRA_ID_BASE, 1, on_b, on_a)):
        edited = apply_edits(field, EditList("x", [Edit("delete", gone)], region=SETTINGS), thing_mask, 1.0)
        assert sorted(edited_regions(edited)) == sorted({1, 4, EXTRA_ID_BASE} - {gone})
        out, ids = render_ids(edited, view, table_of(edited))
        assert (ids[on_kept] == kept).all()  # the other chair is still there, under its id
        assert not (ids == gone).any()
        gain = out["depth"][on_gone] - before["depth"][on_gone]  # what lies behind shows
        assert (gain > 0.01).float().mean() > 0.9 and gain.mean() > 0.2
        assert torch.allclose(out["rgb"][on_kept], before["rgb"][on_kept])


def test_a_copy_of_a_piece_gets_a_new_slot_and_the_edits_compose(field, thing_mask, view):
    edit_list = EditList(
        "x",
        [Edit("duplicate", EXTRA_ID_BASE, (0.0, 0.0, 0.5)), Edit("delete", EXTRA_ID_BASE)],
        region=SETTINGS,
    )
    edited = apply_edits(field, edit_list, thing_mask, 1.0)
    new_id = helpers().NUM_SLOTS + 1
    regions = edited_regions(edited)
    assert sorted(regions) == [1, 4, new_id]
    assert regions[new_id].slot_id == new_id and not regions[new_id].shares_slot
    assert not regions[1].shares_slot  # chair A is alone in its slot now
    lifted = torch.tensor([CHAIR_B[0], CHAIR_B[1]]) + torch.tensor([0.0, 0.0, 0.5])
    assert torch.allclose(regions[new_id].bounds(), lifted, atol=1 / 32 + 1e-6)
    # applying more edits on the edited field continues from its instances (the viewer does this)
    more = apply_edits(edited, EditList("x", [Edit("delete", new_id)], region=SETTINGS), thing_mask, 1.0)
    assert sorted(edited_regions(more)) == [1, 4]


def test_region_settings_of_old_and_new_edit_lists(tmp_path):
    import json

    from panolift.runs import read_edit_list
    from panolift.scene import SceneError

    def write(region) -> None:
        data = {"version": 1, "source_run": "../run", "edits": [{"op": "delete", "instance": 2}]}
        (tmp_path / "edits.json").write_text(json.dumps(dict(data, region=region)))

    write({"resolution": 32})  # written before pieces existed: its ids were slot ids, and stay so
    assert read_edit_list(tmp_path).region.split_pieces is False
    write({"split_pieces": None})  # null: by the field
    assert read_edit_list(tmp_path).region.split_pieces is None
    write({"split_pieces": True, "min_piece_voxels": 8, "min_piece_fraction": 0.2, "piece_bridge": 2})
    region = read_edit_list(tmp_path).region
    assert (region.split_pieces, region.min_piece_voxels, region.min_piece_fraction) == (True, 8, 0.2)
    for bad in (
        {"split_pieces": 1},
        {"min_piece_fraction": 2.0},
        {"piece_bridge": -1},
        {"min_piece_voxels": 1.5},
    ):
        write(bad)
        with pytest.raises(SceneError, match=next(iter(bad))):
            read_edit_list(tmp_path)


def test_info_lists_slots_and_counts_per_class():
    from panolift.commands.run_info import class_counts, instance_table

    rows = [
        {"id": 1, "class": "bag", "slot": 0, "voxels": 40, "bbox_min": [0, 0, 0], "bbox_max": [1, 1, 1]},
        {"id": 7, "class": "chair", "slot": 6, "voxels": 90, "bbox_min": [2, 0, 0], "bbox_max": [3, 1, 1]},
        {
            "id": EXTRA_ID_BASE,
            "class": "bag",
            "slot": 0,
            "voxels": 35,
            "bbox_min": [5, 5, 0],
            "bbox_max": [6, 6, 1],
        },
    ]
    assert class_counts(rows) == "bag 2, chair 1"
    lines = instance_table(rows)
    assert lines[0].split()[:4] == ["id", "class", "slot", "voxels"]
    assert lines[3].split()[:4] == [str(EXTRA_ID_BASE), "bag", "0", "35"]
    assert instance_table(rows, "cluster")[0].split()[:4] == ["id", "class", "cluster", "voxels"]
