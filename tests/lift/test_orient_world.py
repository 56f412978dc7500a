"""A room that stands turned in its world: the trainer turns the field's axes onto it
(``train.orient_world``), and everything a user sees (renders, exports, instance boxes, picks, edits,
refined cameras) stays in the scene's own world."""

from __future__ import annotations

import json
import math
import re
import shutil

import numpy as np
import pytest
import torch

from panolift.capture.world_frame import (
    AXIS_TURNS,
    heights_turn_degrees,
    heights_up,
    nearest_axes,
    orientation_offsets,
    rotate_poses,
    rotation_about,
    turn_degrees,
    up_direction,
    world_rotation,
)
from panolift.cli import main
from panolift.config import tiny_config
from panolift.export import extract_labelled_surface
from panolift.lift.cameras import FrameCameras
from panolift.lift.trainer import Trainer
from panolift.render import render_image
from panolift.runs import load_run, read_run_info, surface_density_of_run
from panolift.runs.training import TrainingRun
from panolift.scene import Scene, SceneError, SceneNormalization
from panolift.view.cameras import world_ray_to_field

TURN = rotation_about([0.3, 0.8, 0.5], 37.0)
SHIFT = np.array([1.0, -2.0, 0.5])


def turn_world(c2w: np.ndarray) -> np.ndarray:
    """Poses (..., 4, 4) of the world x' = TURN x + SHIFT."""
    out = rotate_poses(np.asarray(c2w, dtype=np.float64).reshape(-1, 4, 4), TURN)
    out[:, :3, 3] += SHIFT
    return out.reshape(np.shape(c2w))


def same_field_turned(norm: SceneNormalization) -> SceneNormalization:
    """The normalisation of the turned world that puts every point where ``norm`` put it unturned."""
    return SceneNormalization(center=TURN @ norm.center + SHIFT, scale=norm.scale, rotation=TURN.T)


@pytest.fixture(scope="module")
def turned_scene(tiny_scene, tmp_path_factory):
    """The tiny room turned 37 degrees about a tilted axis and moved, as a scene imported without
    orientation may stand."""
    root = tmp_path_factory.mktemp("turned") / "tiny"
    shutil.copytree(tiny_scene, root)
    scene = Scene(tiny_scene)
    for name in scene.frame_names:
        np.savetxt(root / "pose" / f"{name}.txt", turn_world(scene.pose(name)))
    return root


def test_a_turned_normalisation_maps_points_poses_and_boxes_both_ways():
    rng = np.random.default_rng(0)
    norm = SceneNormalization(center=np.array([0.5, -1.0, 2.0]), scale=0.4, rotation=TURN)
    points = rng.normal(size=(20, 3))
    assert np.allclose(norm.points_to_world(norm.points_to_field(points)), points)
    assert np.allclose(norm.points_to_field(points), (points - norm.center) @ TURN.T * 0.4)
    poses = turn_world(np.tile(np.eye(4), (3, 1, 1)))
    field = norm.apply_to_poses(poses)
    assert np.allclose(field[:, :3, 3], norm.points_to_field(poses[:, :3, 3]))
    assert np.allclose(field[:, :3, :3], TURN @ poses[:, :3, :3])
    assert np.allclose(norm.poses_to_world(field), poses)
    box = np.array([[-0.2, -0.3, -0.1], [0.4, 0.1, 0.5]])
    inside = rng.uniform(box[0], box[1], size=(200, 3))
    world_box = norm.box_to_world(box)
    world = norm.points_to_world(inside)
    assert (world >= world_box[0] - 1e-9).all() and (world <= world_box[1] + 1e-9).all()
    again = SceneNormalization.from_dict(json.loads(json.dumps(norm.to_dict())))
    assert np.allclose(again.rotation, TURN) and again.turned
    plain = SceneNormalization(center=np.zeros(3), scale=2.0)
    assert "rotation" not in plain.to_dict() and not SceneNormalization.from_dict(plain.to_dict()).turned
    assert np.allclose(plain.box_to_world(box), box / 2.0)


def test_nearest_axes_leaves_a_room_alone_whichever_axis_is_up():
    assert len(AXIS_TURNS) == 24 and all(np.isclose(np.linalg.det(m), 1.0) for m in AXIS_TURNS)
    y_up = np.array([[1.0, 0, 0], [0, 0, -1.0], [0, 1.0, 0]])  # z up -> y up: a nerfstudio-style world
    assert turn_degrees(nearest_axes(y_up)) == pytest.approx(0.0, abs=1e-9)
    turned = rotation_about([0.0, 0.0, 1.0], 20.0) @ y_up
    assert turn_degrees(nearest_axes(turned)) == pytest.approx(20.0, abs=1e-6)
    assert turn_degrees(nearest_axes(TURN)) <= 37.0 + 1e-6


def test_a_turned_world_renders_exports_picks_and_refines_as_the_same_field(tiny_run):
    """The same trained field, its scene turned 37 degrees: each world <-> field conversion must undo
    the turn, or these differ."""
    loaded = load_run(tiny_run)
    norm, turned = loaded.normalization, same_field_turned(loaded.normalization)
    scene = Scene(loaded.scene_path, size=loaded.image_size)
    name = scene.test_frames[0]
    pose = scene.pose(name)
    want = render_image(loaded.field, scene.intrinsics, pose, *scene.size, normalization=norm)
    got = render_image(loaded.field, scene.intrinsics, turn_world(pose), *scene.size, normalization=turned)
    for key in ("rgb", "depth", "semantics"):
        torch.testing.assert_close(got[key], want[key], atol=1e-4, rtol=1e-4)
    level = surface_density_of_run(loaded)
    surface = extract_labelled_surface(loaded.field, loaded.thing_mask, norm, resolution=24, level=level)
    moved = extract_labelled_surface(loaded.field, loaded.thing_mask, turned, resolution=24, level=level)
    assert surface.num_vertices > 100
    assert np.allclose(moved.vertices, surface.vertices @ TURN.T + SHIFT, atol=1e-4)
    assert np.allclose(moved.normals, surface.normals @ TURN.T, atol=1e-4)
    origin, direction = pose[:3, 3], pose[:3, 2] * 2.0
    o, d = world_ray_to_field(origin, direction, norm)
    o2, d2 = world_ray_to_field(TURN @ origin + SHIFT, TURN @ direction, turned)
    assert np.allclose(o, o2) and np.allclose(d, d2)
    cameras = FrameCameras(3)
    with torch.no_grad():
        cameras.rotation.normal_(0.0, 0.01)
        cameras.shift.normal_(0.0, 0.01)
    refined = cameras.refine_world_pose(pose, 1, norm)
    assert np.allclose(cameras.refine_world_pose(turn_world(pose), 1, turned), turn_world(refined), atol=1e-9)


def _orienting_trainer(scene_path, caplog) -> Trainer:
    """A new `tiny` training of the scene at ``scene_path`` with ``train.orient_world``, its log captured."""
    import logging

    config = tiny_config()
    config.train.orient_world = True
    caplog.set_level(logging.INFO, logger="panolift.lift.trainer")
    scene = Scene(scene_path)
    return Trainer(scene, scene.normalization(), config)


def test_the_trainer_turns_a_turned_room_onto_its_axes(tiny_scene, turned_scene, caplog):
    """Upright in the field's axes after the turn, the cameras and matched depths moved with it (the same
    surface points, in the new axes); the room as the synth made it is left alone."""
    plain = _orienting_trainer(tiny_scene, caplog)
    assert plain.orient_world() == 0.0 and not plain.normalization.turned
    trainer = _orienting_trainer(turned_scene, caplog)
    before = trainer.normalization.points_to_world(trainer.matched_points().double().numpy())
    degrees = trainer.orient_world()
    assert degrees > 30.0 and trainer.normalization.turned and trainer.field.normalization.turned
    assert "turned upright" in caplog.text and "degrees off upright" not in caplog.text
    c2w = trainer.data.c2w.double().numpy()
    assert math.degrees(math.acos(min(1.0, abs(float(up_direction(c2w) @ [0.0, 0.0, 1.0]))))) < 2.0
    assert np.linalg.norm(c2w[:, :3, 3], axis=-1).max() <= 1.0  # still inside the unit sphere
    after = trainer.normalization.points_to_world(trainer.matched_points().double().numpy())
    assert np.allclose(after, before, atol=1e-4)  # the same surface points
    assert orientation_offsets(c2w)[0] < 2.0
    with pytest.raises(RuntimeError, match="new training"):
        trainer.orient_world()


def test_a_room_whose_cameras_lean_but_whose_floor_is_level_is_not_turned(tiny_scene, caplog, monkeypatch):
    """A hand-held walk's roll can lean the cameras' up by more than the threshold in a room that stands
    upright: the trainer turns only when the points' heights agree (here the cameras' up is made 8 degrees
    off, and the matched points are a level floor and ceiling between walls along the axes)."""

    import torch

    from panolift.capture import world_frame
    from panolift.lift import trainer as trainer_module

    def leaning(c2w, points=None, up=None):
        if up is None:
            up = rotation_about([1.0, 0.0, 0.0], 8.0) @ up_direction(c2w, points)
        return world_frame.world_rotation(c2w, points, up=up)

    monkeypatch.setattr(trainer_module, "world_rotation", leaning)
    monkeypatch.setattr(
        Trainer, "matched_points", lambda self: torch.as_tensor(_level_room(), dtype=torch.float32)
    )
    trainer = _orienting_trainer(tiny_scene, caplog)
    assert trainer.orient_world() == 0.0 and not trainer.normalization.turned
    assert "by its points' heights (8.0 by the cameras' up): not turned" in caplog.text


def _level_room() -> np.ndarray:
    """(4000, 3) points of an upright room in the unit box: floor, ceiling and two walls along the axes."""
    rng = np.random.default_rng(0)
    uv = rng.uniform(-0.8, 0.8, (4000, 2))
    level = np.r_[np.c_[uv[:1000], np.full(1000, -0.5)], np.c_[uv[1000:2000], np.full(1000, 0.5)]]
    walls = np.r_[
        np.c_[np.full(1000, 0.8), uv[2000:3000]], np.c_[uv[3000:, 0], np.full(1000, -0.8), uv[3000:, 1]]
    ]
    return np.r_[level, walls] + rng.normal(0, 0.003, (4000, 3))


def test_heights_find_the_level_of_a_room_whose_cameras_lean():
    points = _level_room()
    guess = rotation_about([0.3, 1.0, 0.0], 4.5) @ np.array([0.0, 0.0, 1.0])
    up = heights_up(points, guess)
    assert math.degrees(math.acos(min(1.0, float(up @ [0.0, 0.0, 1.0])))) < 0.5
    # cameras on a quarter turn, all rolled 8 degrees about their optical axes: their x axes lean their
    # up; the heights do not
    c2w = np.repeat(np.eye(4)[None], 12, axis=0)
    level_camera = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])  # looks along +y, y down
    for i, yaw in enumerate(np.linspace(0.0, 90.0, 12)):
        c2w[i, :3, :3] = (
            rotation_about([0.0, 0.0, 1.0], yaw) @ level_camera @ rotation_about([0.0, 0.0, 1.0], 8.0)
        )
    assert turn_degrees(nearest_axes(world_rotation(c2w, points))) > 5.0
    assert heights_turn_degrees(c2w, points) < 1.0


def test_a_turned_training_writes_its_turn_renders_in_the_world_and_resumes(turned_scene, tmp_path, capsys):
    config = tiny_config()
    config.train.orient_world = True
    train = config.train
    train.iterations, train.checkpoint_every, train.log_every = 200, 100, 10
    with TrainingRun(turned_scene, tmp_path / "run", config) as run:
        run.run(stop_at=100)
    info = read_run_info(tmp_path / "run")
    assert info.normalization.turned
    with TrainingRun(turned_scene, tmp_path / "run", resume=True) as resumed:
        assert resumed.trainer.step == 100
        assert np.allclose(resumed.trainer.normalization.rotation, info.normalization.rotation)
        resumed.run()
    assert np.allclose(read_run_info(tmp_path / "run").normalization.rotation, info.normalization.rotation)
    loaded = load_run(tmp_path / "run")
    scene = Scene(turned_scene, size=loaded.image_size)
    name = scene.train_frames[0]
    out = render_image(loaded.field, scene.intrinsics, scene.pose(name), *scene.size, loaded.normalization)
    error = float(((out["rgb"].cpu().numpy() - scene.rgb(name)) ** 2).mean())
    # the training view it learnt, rendered from where it stands (21.9 dB; 7-8 dB where the field is empty)
    assert -10 * math.log10(error) > 16.0
    main(["info", str(tmp_path / "run")])
    assert re.search(r"field axes   turned 3\d\.\d deg", capsys.readouterr().out)


def test_run_json_with_a_bad_rotation_is_a_clear_error(tiny_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    data = json.loads((run / "run.json").read_text())
    data["normalization"]["rotation"] = [[1.0, 0.0, 0.0], [0.0, 2.0, 0.0], [0.0, 0.0, 1.0]]
    (run / "run.json").write_text(json.dumps(data))
    with pytest.raises(SceneError, match=r"run\.json.*rotation"):
        read_run_info(run)
