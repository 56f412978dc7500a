"""Delete / duplicate / move on the analytic box field, checked against the box field edited by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from panolift.config import RegionConfig
from panolift.edit import Edit, EditList, apply_edits, find_regions, parse_transform
from panolift.runs import read_edit_list
from panolift.runs.folder import write_edit_list
from panolift.scene import SceneError

CHAIR, SOFA = 1, 4
SETTINGS = RegionConfig(resolution=64, density_threshold=100.0, dilation=1)


def edit(box_field, thing_mask, *edits: Edit, world_scale: float = 1.0):
    return apply_edits(box_field, EditList("src", list(edits), region=SETTINGS), thing_mask, world_scale)


@pytest.fixture(scope="module")
def before(box_field, camera, render_fn):
    return render_fn(box_field, *camera)


def test_delete_removes_the_instance_and_reveals_what_is_behind(
    box_field, thing_mask, camera, render_fn, before
):
    after = render_fn(edit(box_field, thing_mask, Edit("delete", CHAIR)), *camera)
    was_chair = before["instance"] == CHAIR
    assert was_chair.sum() > 50
    assert not (after["instance"] == CHAIR).any()
    gain = after["depth"][was_chair] - before["depth"][was_chair]
    assert (gain > 1e-3).all() and gain.mean() > 0.3  # floor and wall behind the chair
    # everything else is untouched
    assert torch.equal(after["instance"][~was_chair], before["instance"][~was_chair])
    assert torch.allclose(after["rgb"][~was_chair], before["rgb"][~was_chair], atol=1e-5)


def test_duplicate_renders_a_copy_with_a_new_id_where_the_translation_puts_it(
    box_field, box_field_cls, thing_mask, camera, render_fn, before
):
    t = (0.25, -0.5, 0.0)
    edited = edit(box_field, thing_mask, Edit("duplicate", CHAIR, translation=t))
    after = render_fn(edited, *camera)
    lo, hi, cls, _, colour = box_field.boxes[2]
    copy_box = (
        tuple(a + b for a, b in zip(lo, t, strict=True)),
        tuple(a + b for a, b in zip(hi, t, strict=True)),
        cls,
        5,
        colour,
    )
    expected = render_fn(box_field_cls(boxes=box_field.boxes + [copy_box], num_slots=6), *camera)
    new_id = box_field.num_slots + 1
    assert (expected["instance"] == new_id).sum() > 50
    agree = (after["instance"] == expected["instance"]).float().mean()
    assert agree > 0.99
    assert (after["instance"] == CHAIR).any()  # the original stays
    assert torch.allclose(after["depth"], expected["depth"], atol=0.05)


def test_move_with_yaw_keeps_the_id(box_field, box_field_cls, thing_mask, camera, render_fn):
    # sofa [0.2, 0.7) x [0, 0.3); yaw 90 deg about +z through the pivot p (the centre of its voxels'
    # box, about (0.45, 0.15)): (x, y) -> (p_x - (y - p_y), p_y + (x - p_x)), then y - 0.6
    edited = edit(box_field, thing_mask, Edit("move", SOFA, translation=(0.0, -0.6, 0.0), yaw_degrees=90.0))
    after = render_fn(edited, *camera)
    px, py, _ = find_regions(box_field, thing_mask, SETTINGS)[1][SOFA].center().tolist()
    assert abs(px - 0.45) < 1 / 32 and abs(py - 0.15) < 1 / 32
    lo, hi = (px + py - 0.3, 0.2 - px + py - 0.6, -0.5), (px + py, 0.7 - px + py - 0.6, -0.2)
    boxes = [b for b in box_field.boxes if b[3] != 3] + [(lo, hi, 6, 3, (0.1, 0.2, 0.9))]
    expected = render_fn(box_field_cls(boxes=boxes), *camera)
    assert (expected["instance"] == SOFA).sum() > 50
    assert (after["instance"] == expected["instance"]).float().mean() > 0.99
    assert torch.allclose(after["depth"], expected["depth"], atol=0.05)


def test_identity_move_changes_nothing(box_field, thing_mask, camera, render_fn, before):
    after = render_fn(edit(box_field, thing_mask, Edit("move", CHAIR)), *camera)
    for key in ("rgb", "depth", "opacity"):
        assert torch.allclose(after[key], before[key], atol=1e-6), key
    assert torch.equal(after["instance"], before["instance"])


def test_edits_compose_and_a_deleted_copy_leaves_the_scene_as_it_was(
    box_field, thing_mask, camera, render_fn, before
):
    new_id = box_field.num_slots + 1
    edited = edit(box_field, thing_mask, Edit("duplicate", CHAIR, (0.25, -0.5, 0.0)), Edit("delete", SOFA))
    after = render_fn(edited, *camera)
    assert (after["instance"] == new_id).any() and not (after["instance"] == SOFA).any()
    restored = edit(
        box_field, thing_mask, Edit("duplicate", CHAIR, (0.25, -0.5, 0.0)), Edit("delete", new_id)
    )
    again = render_fn(restored, *camera)
    assert torch.equal(again["instance"], before["instance"])
    assert torch.allclose(again["depth"], before["depth"], atol=1e-5)


def test_world_translation_is_scaled_into_field_units(box_field, thing_mask, camera, render_fn):
    in_field = render_fn(edit(box_field, thing_mask, Edit("duplicate", CHAIR, (0.25, -0.5, 0.0))), *camera)
    in_world = render_fn(
        edit(box_field, thing_mask, Edit("duplicate", CHAIR, (0.125, -0.25, 0.0)), world_scale=2.0), *camera
    )
    assert torch.equal(in_field["instance"], in_world["instance"])


def test_a_world_turned_from_the_field_turns_translation_and_up_into_it(
    box_field, thing_mask, camera, render_fn
):
    """A run whose trainer turned the room onto the field's axes (``train.orient_world``): edits are
    written in the scene's world, so a translation and the yaw's up axis turn with the normalisation."""
    a = math.radians(30.0)
    turn = np.array([[math.cos(a), 0.0, math.sin(a)], [0.0, 1.0, 0.0], [-math.sin(a), 0.0, math.cos(a)]])
    t, up = np.array([0.25, -0.5, 0.0]), np.array([0.0, 0.0, 1.0])
    edits = [Edit("move", SOFA, tuple(t), 90.0), Edit("duplicate", CHAIR, tuple(t))]
    in_field = render_fn(
        apply_edits(box_field, EditList("s", edits, region=SETTINGS), thing_mask, 1.0), *camera
    )
    world = [Edit(e.op, e.instance, tuple(turn @ t), e.yaw_degrees) for e in edits]
    edit_list = EditList("s", world, region=SETTINGS, up=tuple(turn @ up))
    turned = apply_edits(box_field, edit_list, thing_mask, 1.0, world_rotation=turn.T)
    in_world = render_fn(turned, *camera)
    assert (in_world["instance"] == box_field.num_slots + 1).sum() > 50
    assert (in_field["instance"] == in_world["instance"]).float().mean() > 0.999
    assert torch.allclose(in_field["depth"], in_world["depth"], atol=1e-4)


def test_the_up_axis_is_the_cameras_level_not_their_mean_pitch():
    """Cameras looking over half a room 20 degrees below level: their mean up leans 13 degrees towards
    where they look, the direction perpendicular to their x axes does not. Near an axis it snaps to it; in a
    world turned 40 degrees it stays the room's up."""
    from panolift.capture.world_frame import rotate_poses
    from panolift.edit import estimate_up_axis

    pitch = math.radians(-20.0)
    poses = []
    for i in range(12):
        yaw = math.pi * i / 11
        forward = np.array(
            [math.cos(pitch) * math.cos(yaw), math.cos(pitch) * math.sin(yaw), math.sin(pitch)]
        )
        z = forward
        x = np.cross(z, [0.0, 0.0, 1.0])
        x /= np.linalg.norm(x)
        y = np.cross(z, x)
        pose = np.eye(4)
        pose[:3, :3] = np.stack([x, y, z], axis=1)
        poses.append(pose)
    poses = np.stack(poses)
    assert np.allclose(estimate_up_axis(poses), [0.0, 0.0, 1.0])
    a = math.radians(40.0)
    turn = np.array([[1.0, 0.0, 0.0], [0.0, math.cos(a), -math.sin(a)], [0.0, math.sin(a), math.cos(a)]])
    turned = rotate_poses(poses, turn)
    up = estimate_up_axis(turned)
    assert float(up @ (turn @ np.array([0.0, 0.0, 1.0]))) > math.cos(math.radians(1.0))
    # one camera: its own up
    assert np.allclose(estimate_up_axis(turned[:1]), -turned[0, :3, 1] / np.linalg.norm(turned[0, :3, 1]))


def test_unknown_instance_is_a_clear_error(box_field, thing_mask):
    with pytest.raises(SceneError, match="no 3D instance 3"):
        edit(box_field, thing_mask, Edit("delete", 3))


def test_edit_list_round_trip_and_errors(tmp_path):
    edits = EditList(
        "../run", [Edit("delete", 2), Edit("move", 3, (1.0, 0.0, -0.5), 45.0)], up=(0.0, 1.0, 0.0)
    )
    write_edit_list(tmp_path, edits)
    assert read_edit_list(tmp_path) == edits
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "edits.json").write_text('{"source_run": "x", "edits": [{"op": "scale", "instance": 1}]}')
    with pytest.raises(SceneError, match=r"bad/edits\.json"):
        read_edit_list(bad)
    assert parse_transform("1 2 3 90") == ((1.0, 2.0, 3.0), 90.0)
    assert parse_transform("1,2,3") == ((1.0, 2.0, 3.0), 0.0)
    for text in ("1 2", "a b c", "1 2 3 nan"):
        with pytest.raises(SceneError):
            parse_transform(text)


def test_rigid_transform_yaw_about_z():
    from panolift.edit.wrappers import RigidTransform

    up, pivot = torch.tensor([0.0, 0.0, 2.0]), torch.zeros(3)
    T = RigidTransform.from_yaw(torch.tensor([1.0, 0.0, 0.0]), math.pi / 2, up, pivot)
    x = torch.tensor([[1.0, 0.0, 0.5]])
    assert torch.allclose(T.apply(x), torch.tensor([[1.0, 1.0, 0.5]]), atol=1e-6)  # (1,0) -> (0,1), then +x


@settings(max_examples=50, deadline=None)
@given(
    yaw=st.floats(-360, 360),
    up=st.tuples(*[st.floats(-1, 1)] * 3).filter(lambda u: sum(v * v for v in u) > 0.01),
    pivot=st.tuples(*[st.floats(-2, 2)] * 3),
    t=st.tuples(*[st.floats(-2, 2)] * 3),
)
def test_rigid_transform_properties(yaw, up, pivot, t):
    """R is a rotation about ``up`` (orthonormal, det 1, fixes up); the pivot moves by exactly t; the
    inverse undoes the transform."""
    from panolift.edit.wrappers import RigidTransform

    up_t, pivot_t, t_t = (torch.tensor(v, dtype=torch.float64).float() for v in (up, pivot, t))
    T = RigidTransform.from_yaw(t_t, math.radians(yaw), up_t, pivot_t)
    R = T.rotation
    assert torch.allclose(R @ R.T, torch.eye(3), atol=1e-5) and abs(float(torch.det(R)) - 1.0) < 1e-5
    assert torch.allclose(R @ (up_t / up_t.norm()), up_t / up_t.norm(), atol=1e-5)
    assert torch.allclose(T.apply(pivot_t[None])[0], pivot_t + t_t, atol=1e-4)
    pts = torch.linspace(-1, 1, 15).reshape(5, 3)
    assert torch.allclose(T.apply_inverse(T.apply(pts)), pts, atol=1e-4)
