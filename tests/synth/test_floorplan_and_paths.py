"""Floor plans (box, L, open plan) and camera paths: cameras stay inside with clearance from walls and
objects, L-shaped and open-plan rooms are closed, paths look where they should."""

from __future__ import annotations

import numpy as np
import pytest

from panolift.scene import SCANNET21
from panolift.synth import FloorPlan, SynthConfig
from panolift.synth.geometry import build_scene_mesh
from panolift.synth.layout import CAMERA_CLEARANCE, layout_room
from panolift.synth.raycast import RayCaster
from panolift.synth.trajectory import camera_trajectory

THINGS = {SCANNET21.names[k] for k in SCANNET21.thing_ids}
ROOMS = {
    "box": {"room_size": (5.0, 3.5, 2.6)},
    "L": {"room_size": (7.0, 6.0, 2.8), "room_shape": "L", "notch": (3.5, 3.0)},
    "open": {"room_size": (8.0, 5.0, 3.0), "room_shape": "open", "divider": (4.0, 2.5)},
}


def _config(shape: str, trajectory: str, seed: int = 0, **extra) -> SynthConfig:
    orbit = {"trajectory_radius": (0.6, 0.4)} if trajectory == "orbit" else {}
    if trajectory == "orbit" and shape != "box":  # around a point well inside the shape
        orbit["trajectory_center"] = {"L": (2.0, 1.5), "open": (6.0, 2.5)}[shape]
    return SynthConfig(
        num_frames=48, num_things=14, seed=seed, trajectory=trajectory, roll_deg=4.0, wall_clearance=0.7,
        **ROOMS[shape], **orbit, **extra,
    )  # fmt: skip


def _footprint_distance(xy: np.ndarray, box: np.ndarray) -> np.ndarray:
    gap = np.maximum(np.maximum(box[0, :2] - xy, xy - box[1, :2]), 0.0)
    return np.linalg.norm(gap, axis=1)


@pytest.mark.parametrize("shape", ["box", "L", "open"])
@pytest.mark.parametrize("trajectory", ["orbit", "outward", "walk", "forward"])
def test_cameras_stay_inside_clear_of_walls_and_objects(shape, trajectory):
    config = _config(shape, trajectory, seed=3)
    plan = FloorPlan.from_config(config)
    poses = camera_trajectory(config)
    assert poses.shape == (config.num_frames, 4, 4) and np.all(np.isfinite(poses))
    R = poses[:, :3, :3]
    np.testing.assert_allclose(
        np.einsum("nji,njk->nik", R, R), np.broadcast_to(np.eye(3), R.shape), atol=1e-9
    )
    np.testing.assert_allclose(np.linalg.det(R), 1.0, atol=1e-9)
    xy, z = poses[:, :2, 3], poses[:, 2, 3]
    least = 0.3 if trajectory == "orbit" else 0.75 * config.wall_clearance
    assert plan.clearance(xy).min() >= least
    assert z.min() > 0.8 and z.max() < config.room_size[2] - 0.2
    cameras = None if trajectory == "orbit" else xy
    objects = layout_room(config, np.random.default_rng(3), THINGS, cameras)
    assert len(objects) >= 6
    for obj in objects:
        assert plan.box_inside(obj.bounds), obj.name
        if cameras is not None:
            assert _footprint_distance(xy, obj.bounds).min() >= CAMERA_CLEARANCE - 1e-9, obj.name


def _headings(poses: np.ndarray) -> np.ndarray:
    return np.unwrap(np.arctan2(poses[:, 1, 2], poses[:, 0, 2]))


def test_outward_loop_looks_out_at_every_wall_near_horizontally():
    config = _config("L", "outward", pitch_deg=-4.0, pitch_amplitude_deg=3.0, height_variation=0.2)
    poses = camera_trajectory(config)
    heading = _headings(poses)
    assert heading.max() - heading.min() > np.radians(330)
    pitch = np.degrees(np.arcsin(poses[:, 2, 2]))
    assert np.all(np.abs(pitch + 4.0) <= 3.0 + 1e-6)
    assert np.ptp(poses[:, 2, 3]) > 0.3  # heights between eye - 0.2 and eye + 0.2
    # the loop is closed: the last camera is a step away from the first
    steps = np.linalg.norm(np.diff(poses[:, :2, 3], axis=0, append=poses[:1, :2, 3]), axis=1)
    assert steps.max() < 3 * np.median(steps)


def test_walk_rolls_and_forward_looks_ahead():
    walk = camera_trajectory(_config("box", "walk"))
    roll = np.degrees(np.arcsin(np.clip(walk[:, 2, 0], -1, 1)))  # right vector's height
    assert np.abs(roll).max() > 1.0
    poses = camera_trajectory(_config("open", "forward"))
    motion = np.diff(poses[:, :2, 3], axis=0)
    view = poses[:-1, :2, 2]
    cos = np.einsum("nk,nk->n", motion, view) / (
        np.linalg.norm(motion, axis=1) * np.linalg.norm(view, axis=1)
    )
    assert np.median(cos) > np.cos(np.radians(45))


@pytest.mark.parametrize("shape", ["L", "open"])
def test_shaped_rooms_are_closed(shape):
    config = _config(shape, "walk")
    plan = FloorPlan.from_config(config)
    rng = np.random.default_rng(0)
    mesh = build_scene_mesh([], config.room_size, SCANNET21, rng, cutouts=plan.cutouts)
    caster = RayCaster(mesh)
    starts = np.array(
        [[*plan.sample_free(rng, 0.05), rng.uniform(0.05, config.room_size[2] - 0.05)] for _ in range(40)]
    )
    origins = np.repeat(starts, 50, axis=0)
    dirs = rng.normal(size=(len(origins), 3))
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    hits = caster.cast(origins, dirs)
    assert np.all(hits.face >= 0)  # no ray escapes
    before = hits.points - 1e-3 * dirs  # a millimetre before each hit: still in the room, never in a cutout
    assert plan.clearance(before[:, :2]).min() >= 0.0
    assert np.all((hits.points[:, 2] > -1e-6) & (hits.points[:, 2] < config.room_size[2] + 1e-6))


def test_floor_plan_walls_and_boxes():
    plan = FloorPlan.from_config(_config("L", "walk"))
    walls = plan.walls()
    assert len(walls) == 6  # four sides and the two faces of the missing corner
    for wall in walls[4:]:
        assert plan.clearance((wall.start + wall.end) / 2 + 0.1 * wall.normal)[0] > 0.05
    assert plan.box_inside(np.array([[0.5, 0.5, 0.0], [2.0, 2.0, 1.0]]))
    assert not plan.box_inside(np.array([[4.0, 3.5, 0.0], [5.0, 4.0, 1.0]]))  # in the missing corner
    assert plan.area == pytest.approx(7.0 * 6.0 - 3.5 * 3.0)
    open_plan = FloorPlan.from_config(_config("open", "walk"))
    assert len(open_plan.walls()) == 4 + 2  # both sides of the partial wall (its 12 cm end takes nothing)
    assert (
        open_plan.clearance(np.array([[4.0, 1.0], [4.0, 4.0]]))[0]
        < 0
        < open_plan.clearance(np.array([[4.0, 4.0]]))[0]
    )


def test_config_rejects_impossible_rooms():
    with pytest.raises(ValueError, match="notch"):
        SynthConfig(room_size=(5.0, 5.0, 2.7), room_shape="L", notch=(4.0, 1.0))
    with pytest.raises(ValueError, match="divider"):
        SynthConfig(room_size=(5.0, 5.0, 2.7), room_shape="open", divider=(0.5, 2.0))
    with pytest.raises(ValueError, match="trajectory"):
        SynthConfig(trajectory="spiral")
