"""Room layouts (clearances, keep-out, counts, determinism) and the camera trajectory."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from panolift.scene import SCANNET21
from panolift.synth import SYNTH_PRESETS, SynthConfig
from panolift.synth.layout import layout_room
from panolift.synth.trajectory import camera_trajectory, intrinsics_for, look_pose

THINGS = {SCANNET21.names[k] for k in SCANNET21.thing_ids}


def _gap(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.maximum(a[0] - b[1], b[0] - a[1])))


@pytest.mark.parametrize("preset, seed", [("room", 0), ("room", 1), ("messy", 0)])
def test_layout_clearances_and_counts(preset, seed):
    config = dataclasses.replace(SYNTH_PRESETS[preset], seed=seed)
    objects = layout_room(config, np.random.default_rng(seed), THINGS)
    assert len(objects) == config.num_things  # messy: 60+ objects
    size = np.array(config.room_size)
    standing = [o for o in objects if o.position[2] == 0.0]
    for i, a in enumerate(standing):
        assert np.all(a.bounds[0] >= -1e-9) and np.all(a.bounds[1] <= size + 1e-9)
        for b in standing[i + 1 :]:
            assert _gap(a.bounds, b.bounds) >= config.min_gap - 1e-9, (a.name, b.name)
    ids = [o.instance_id for o in objects if o.instance_id > 0]
    assert sorted(ids) == list(range(1, len(ids) + 1))
    assert {o.name for o in objects if o.instance_id > 0} <= THINGS and len(ids) >= 3
    again = layout_room(config, np.random.default_rng(seed), THINGS)
    assert [o.name for o in again] == [o.name for o in objects]
    assert all(np.array_equal(a.position, b.position) for a, b in zip(again, objects, strict=True))


def test_look_pose_is_opencv_camera_to_world():
    c2w = look_pose(np.array([1.0, 2.0, 1.5]), yaw=0.0, pitch=0.0)  # looking along +x, z up
    R = c2w[:3, :3]
    np.testing.assert_allclose(R.T @ R, np.eye(3), atol=1e-12)
    assert np.linalg.det(R) == pytest.approx(1.0)
    np.testing.assert_allclose(R[:, 2], [1, 0, 0], atol=1e-12)  # z forward
    np.testing.assert_allclose(R[:, 1], [0, 0, -1], atol=1e-12)  # y down
    np.testing.assert_allclose(R[:, 0], [0, -1, 0], atol=1e-12)  # x right (looking along +x, right is -y)


def test_trajectory_is_smooth_at_eye_height_and_looks_around():
    config = SynthConfig()
    poses = camera_trajectory(config)
    assert poses.shape == (config.num_frames, 4, 4)
    assert np.all(np.abs(poses[:, 2, 3] - config.eye_height) < 0.1)
    rel = np.einsum("nji,njk->nik", poses[:-1, :3, :3], poses[1:, :3, :3])
    angles = np.degrees(np.arccos(np.clip((np.trace(rel, axis1=1, axis2=2) - 1) / 2, -1, 1)))
    assert angles.max() < 15.0  # neighbouring views overlap (structure from motion needs it)
    steps = np.linalg.norm(np.diff(poses[:, :3, 3], axis=0), axis=1)
    assert steps.max() < 0.2
    heading = np.unwrap(np.arctan2(poses[:, 1, 2], poses[:, 0, 2]))
    assert heading.max() - heading.min() > np.radians(300)  # looks all around the room
    K = intrinsics_for(config)
    assert K[0, 2] == config.width / 2 and K[1, 2] == config.height / 2


def test_config_rejects_bad_values():
    with pytest.raises(ValueError, match="test_every"):
        SynthConfig(test_every=1)
    with pytest.raises(ValueError, match="too small"):
        SynthConfig(room_size=(2.0, 2.0, 2.7))
