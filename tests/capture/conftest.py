"""Fixtures of the capture tests: hand-made posed scenes (exact poses, textured images)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from panolift.scene import SCANNET21, SceneWriter


def look_at(centre: np.ndarray, target: np.ndarray, up=(0.0, 0.0, 1.0)) -> np.ndarray:
    """4x4 camera-to-world (OpenCV: z forward, y down) at ``centre`` looking at ``target``."""
    z = target - centre
    z = z / np.linalg.norm(z)
    x = np.cross(z, np.asarray(up, dtype=np.float64))
    x = x / np.linalg.norm(x)
    y = np.cross(z, x)
    c2w = np.eye(4)
    c2w[:3, :3] = np.stack([x, y, z], axis=1)
    c2w[:3, 3] = centre
    return c2w


def orbit_poses(num: int, radius: float = 2.0, height: float = 0.5, seed: int = 0) -> np.ndarray:
    """(num, 4, 4) cameras on a jittered circle, looking at points near the origin."""
    rng = np.random.default_rng(seed)
    poses = []
    for i in range(num):
        a = 2 * np.pi * i / num
        centre = np.array([radius * np.cos(a), radius * np.sin(a), height + 0.1 * rng.standard_normal()])
        poses.append(look_at(centre, 0.1 * rng.standard_normal(3)))
    return np.stack(poses)


def write_hand_made_scene(
    root: Path, num_frames: int = 6, size=(64, 48), suffix=".png", seed: int = 0
) -> Path:
    """A scene with random images, orbit poses, a non-square pinhole K with an off-centre principal point."""
    rng = np.random.default_rng(seed)
    w, h = size
    writer = SceneWriter(root)
    K = np.array([[0.9 * w, 0.0, 0.52 * w], [0.0, 0.95 * w, 0.47 * h], [0.0, 0.0, 1.0]])
    writer.write_intrinsics(K)
    names = [str(i) for i in range(num_frames)]
    for name, c2w in zip(names, orbit_poses(num_frames, seed=seed), strict=True):
        rgb = rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)
        writer.write_frame(name, rgb, c2w, suffix=suffix)
    writer.write_splits([n for n in names if int(n) % 3], names[::3])
    writer.write_segmentation_data(SCANNET21)
    return root


@pytest.fixture
def hand_made_scene(tmp_path: Path) -> Path:
    return write_hand_made_scene(tmp_path / "hand_made")
