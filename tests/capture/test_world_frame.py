"""The imported world's orientation (:mod:`panolift.capture.world_frame`): upright, walls along x and y."""

from __future__ import annotations

import math

import numpy as np
import pytest

from panolift.capture.world_frame import (
    UP,
    manhattan_angle,
    orientation_offsets,
    rotate_poses,
    rotation_about,
    rotation_between,
    up_direction,
    world_rotation,
)

from .conftest import look_at


def random_rotation(rng: np.random.Generator) -> np.ndarray:
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    q = q * np.sign(np.diag(r))
    return q if np.linalg.det(q) > 0 else -q


def room_points(rng: np.random.Generator, size=(6.0, 4.0, 2.7), clutter: int = 400) -> np.ndarray:
    """Points on the floor, ceiling and four walls of an axis-aligned box room (z up, corner at the
    origin), with some clutter inside, a few mm of noise."""
    w, d, h = size
    n = 600
    walls = [
        np.c_[rng.uniform(0, w, n), np.zeros(n), rng.uniform(0, h, n)],
        np.c_[rng.uniform(0, w, n), np.full(n, d), rng.uniform(0, h, n)],
        np.c_[np.zeros(n), rng.uniform(0, d, n), rng.uniform(0, h, n)],
        np.c_[np.full(n, w), rng.uniform(0, d, n), rng.uniform(0, h, n)],
        np.c_[rng.uniform(0, w, n), rng.uniform(0, d, n), np.zeros(n)],
        np.c_[rng.uniform(0, w, n), rng.uniform(0, d, n), np.full(n, h)],
        rng.uniform((0.5, 0.5, 0.0), (w - 0.5, d - 0.5, 1.2), size=(clutter, 3)),
    ]
    points = np.concatenate(walls)
    return points + rng.normal(scale=0.005, size=points.shape)


def room_cameras(rng: np.random.Generator, num: int = 30, roll_deg: float = 2.0) -> np.ndarray:
    """Cameras inside the room looking at its walls at pitches of -20 to 15 degrees, rolled a little."""
    poses = []
    for i in range(num):
        yaw = 2 * math.pi * i / num
        pitch = math.radians(rng.uniform(-20, 15))
        centre = np.array([3.0, 2.0, 1.5]) + rng.normal(scale=0.3, size=3)
        forward = np.array(
            [math.cos(pitch) * math.cos(yaw), math.cos(pitch) * math.sin(yaw), math.sin(pitch)]
        )
        pose = look_at(centre, centre + forward)
        roll = math.radians(rng.normal(scale=roll_deg))
        c, s = math.cos(roll), math.sin(roll)
        pose[:3, :3] = pose[:3, :3] @ np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])
        poses.append(pose)
    return np.stack(poses)


def test_rotation_between_turns_one_unit_vector_onto_another():
    rng = np.random.default_rng(0)
    for _ in range(20):
        a, b = (v / np.linalg.norm(v) for v in rng.normal(size=(2, 3)))
        r = rotation_between(a, b)
        assert (
            np.allclose(r @ a, b) and np.allclose(r @ r.T, np.eye(3)) and np.linalg.det(r) == pytest.approx(1)
        )
    for a in (UP, np.array([1.0, 0.0, 0.0])):
        r = rotation_between(a, -a)  # opposite vectors: half a turn
        assert np.allclose(r @ a, -a) and np.linalg.det(r) == pytest.approx(1)
    assert np.allclose(rotation_between(UP, UP), np.eye(3))


def test_the_world_of_a_turned_capture_comes_back_upright_and_wall_aligned():
    """A room's cameras and points in a world turned any which way (as SfM leaves it): the rotation
    found makes it upright to about a degree and its walls along x and y (up to quarter turns)."""
    rng = np.random.default_rng(1)
    cameras, points = room_cameras(rng), room_points(rng)
    for trial in range(5):
        turn = random_rotation(rng)
        turned_cameras = rotate_poses(cameras, turn)
        rotation = world_rotation(turned_cameras, points @ turn.T)
        back = rotation @ turn  # the true world -> the found one: a quarter turn about z at best
        tilt = math.degrees(math.acos(np.clip(back[2, 2], -1, 1)))
        yaw = math.degrees(math.atan2(back[1, 0], back[0, 0]))
        assert tilt < 1.5, (trial, tilt)  # cameras rolled 2 degrees (std): 0.13-1.06 over 5 rooms
        assert abs((yaw + 45) % 90 - 45) < 1.0, (trial, yaw)
        rotated = rotate_poses(turned_cameras, rotation)
        assert np.allclose(rotated[:, :3, :3] @ rotated[:, :3, :3].transpose(0, 2, 1), np.eye(3))
        # only a rotation: distances between cameras are kept
        assert np.allclose(
            np.linalg.norm(rotated[1:, :3, 3] - rotated[:-1, :3, 3], axis=1),
            np.linalg.norm(cameras[1:, :3, 3] - cameras[:-1, :3, 3], axis=1),
        )


def test_up_falls_back_to_the_cameras_mean_up_when_they_all_look_one_way():
    """A forward walk: every camera's x axis is the same, so any vector perpendicular to it fits; the
    cameras' mean up is taken instead, and a model without points is only made upright."""
    poses = np.stack(
        [look_at(np.array([0.0, 0.1 * i, 1.5]), np.array([0.0, 0.1 * i + 5.0, 1.2])) for i in range(10)]
    )
    up = up_direction(poses)
    assert float(up @ UP) > 0.95  # the cameras pitch down a little: their mean up leans with them
    rotation = world_rotation(poses)
    assert np.allclose(rotation @ up, UP)


def test_a_straight_walk_pitched_down_is_levelled_by_the_rooms_heights():
    """Cameras on a straight line, all looking down the room 15 degrees below level: their mean up leans
    15 degrees; the room's points (floor, ceiling, clutter) give the level within a degree, in any world."""
    rng = np.random.default_rng(5)
    pitch = math.radians(-15.0)
    poses = np.stack(
        [
            look_at(c, c + np.array([0.0, math.cos(pitch), math.sin(pitch)]))
            for c in (np.array([3.0, 0.4 + 0.1 * i, 1.5]) for i in range(30))
        ]
    )
    points = room_points(rng)
    mean_up_tilt = math.degrees(math.acos(float(up_direction(poses) @ UP)))
    assert mean_up_tilt > 10.0  # without the points: the mean up, leaning with the pitch
    for trial in range(3):
        turn = random_rotation(rng)
        up = up_direction(rotate_poses(poses, turn), points @ turn.T)
        assert math.degrees(math.acos(min(1.0, float(up @ (turn @ UP))))) < 1.0, trial
        rotation = world_rotation(rotate_poses(poses, turn), points @ turn.T)
        back = rotation @ turn
        assert math.degrees(math.acos(np.clip(back[2, 2], -1, 1))) < 1.0, trial


def test_orientation_offsets_measure_a_worlds_tilt_and_turn():
    rng = np.random.default_rng(4)
    cameras, points = room_cameras(rng, roll_deg=0.0), room_points(rng)
    tilt, turn = orientation_offsets(cameras, points)
    assert tilt < 0.5 and turn < 0.5, (tilt, turn)
    turned = rotation_about(np.array([0.0, 0.0, 1.0]), 20.0) @ rotation_about(np.array([1.0, 0.0, 0.0]), 8.0)
    tilt, turn = orientation_offsets(rotate_poses(cameras, turned), points @ turned.T)
    assert tilt == pytest.approx(8.0, abs=0.5) and turn == pytest.approx(20.0, abs=1.5), (tilt, turn)
    assert orientation_offsets(cameras)[1] is None  # no points: the tilt only


def test_manhattan_angle_finds_the_walls_turn():
    rng = np.random.default_rng(2)
    points = room_points(rng)[:, :2]
    for degrees in (0.0, 12.5, 37.0, 61.0, 89.0):
        a = math.radians(degrees)
        turn = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
        found = math.degrees(manhattan_angle(points @ turn.T))
        assert abs(((found + degrees) + 45) % 90 - 45) < 1.0, (degrees, found)


def test_a_training_warns_of_a_room_turned_in_its_world(tiny_scene, tmp_path, caplog):
    """The tiny room as the synth made it (upright, walls along the axes) passes quietly; turned by 37
    degrees about a tilted axis, as a scene imported without orientation may stand, it draws a warning."""
    import logging
    import shutil

    from panolift.config import tiny_config
    from panolift.lift.trainer import Trainer
    from panolift.scene import Scene

    config = tiny_config()
    scene = Scene(tiny_scene)
    caplog.set_level(logging.WARNING, logger="panolift.lift.trainer")
    tilt, turn = Trainer(scene, scene.normalization(), config).report_orientation()
    assert tilt < 1.0 and (turn is None or turn < 1.0), (tilt, turn)  # the tiny room matches few points
    assert "degrees off upright" not in caplog.text
    turned = tmp_path / "turned"
    shutil.copytree(tiny_scene, turned)
    axis = np.array([0.3, 0.8, 0.5]) / np.linalg.norm([0.3, 0.8, 0.5])
    rotation = rotation_about(axis, 37.0)
    for name in scene.frame_names:
        np.savetxt(turned / "pose" / f"{name}.txt", rotate_poses(scene.pose(name)[None], rotation)[0])
    scene = Scene(turned)
    tilt, turn = Trainer(scene, scene.normalization(), config).report_orientation()
    assert tilt > 10.0 and "degrees off upright" in caplog.text and "panolift import" in caplog.text
