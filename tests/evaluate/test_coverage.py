"""View coverage (panolift.evaluate.coverage): which training views see a pixel, on a plane and on a real
synthetic scene."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from panolift.evaluate.coverage import ViewCoverage, backproject, seen_by
from panolift.scene import Scene, SceneError

W, H = 40, 30
K = np.array([[30.0, 0, W / 2], [0, 30.0, H / 2], [0, 0, 1]])


def _camera(x: float = 0.0, turned: bool = False) -> np.ndarray:
    """Camera at (x, 0, 0) looking along +z (or -z when ``turned``), OpenCV axes."""
    c2w = np.eye(4)
    c2w[0, 3] = x
    if turned:
        c2w[:3, :3] = np.diag([-1.0, 1.0, -1.0])
    return c2w


def test_a_wall_is_seen_where_the_views_overlap_and_not_when_hidden():
    wall = np.full((H, W), 2.0)  # a wall at z = 2, facing the cameras
    points, valid = backproject(wall, K, _camera())
    assert valid.all() and np.allclose(points[:, 2], 2.0)
    shifted = seen_by(points, K, _camera(0.5), wall)
    # a camera 0.5 m to the right sees the wall points with x >= 0.5 - (W / 2) * 2 / 30 (its left edge)
    expected = points[:, 0] >= 0.5 - (W / 2) * 2.0 / 30.0
    assert shifted.sum() == expected.sum() and np.array_equal(shifted, expected)
    assert 0 < shifted.sum() < points.shape[0]
    assert not seen_by(points, K, _camera(turned=True), wall).any()  # looking away
    assert not seen_by(points, K, _camera(0.5), np.full((H, W), 1.0)).any()  # something 1 m nearer hides it
    assert not seen_by(points, K, _camera(0.5), np.zeros((H, W))).any()  # its depth is unknown
    assert seen_by(points, K, _camera(0.5), np.full((H, W), 2.05)).sum() == expected.sum()  # within tolerance


@pytest.fixture()
def scene(tiny_scene) -> Scene:
    return Scene(tiny_scene)


def test_counts_on_a_synthetic_scene(scene):
    name = scene.test_frames[0]
    itself = ViewCoverage(scene, sources=[name]).count(name)
    depth = scene.depth(name)
    assert itself.shape == depth.shape and np.array_equal(itself, (depth > 0).astype(np.int16))
    counts = ViewCoverage(scene).count(name)
    assert counts.max() <= len(scene.train_frames) and (counts[depth > 0] >= 1).mean() > 0.5
    neighbour = ViewCoverage(scene, sources=scene.train_frames[:1]).count(name)
    assert (neighbour <= counts).all()  # fewer sources never see more


def test_a_scene_without_depth_is_refused_by_file(tiny_scene, tmp_path):
    root = tmp_path / "scene"
    shutil.copytree(tiny_scene, root)
    scene = Scene(root)
    (root / "depth" / f"{scene.train_frames[0]}.png").unlink()
    with pytest.raises(SceneError, match=rf"depth/{scene.train_frames[0]}\.png"):
        ViewCoverage(scene)
