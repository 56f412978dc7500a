"""Room scale of SfM worlds from their 3D points."""

from __future__ import annotations

import json

import numpy as np
import pytest

from panolift.capture.colmap_import import import_colmap
from panolift.capture.colmap_io import ColmapImage, ColmapModel
from panolift.capture.nerfstudio import export_scene_to_transforms, import_nerfstudio
from panolift.capture.poses import colmap_from_c2w
from panolift.capture.world_scale import compute_world_scale, observed_depths
from panolift.scene import Scene

from .conftest import orbit_poses


def model_and_points(num_points: int = 200):
    """Cameras on an orbit of radius 2 around the origin, points within 0.5 of the origin."""
    rng = np.random.default_rng(0)
    model = ColmapModel()
    poses = orbit_poses(4)
    for i, c2w in enumerate(poses, start=1):
        model.images[i] = ColmapImage(i, *colmap_from_c2w(c2w), 1, f"{i}.png")
    xyz = rng.uniform(-0.5, 0.5, size=(num_points, 3))
    rows = np.repeat(np.arange(num_points), 4)
    image_ids = np.tile([1, 2, 3, 4], num_points)
    return model, poses, xyz, rows, image_ids


def test_observed_depths_are_camera_z():
    model, poses, xyz, rows, image_ids = model_and_points()
    depths = observed_depths(model, xyz, rows, image_ids)
    expected = [
        (np.linalg.inv(poses[j - 1]) @ [*xyz[r], 1.0])[2] for r, j in zip(rows, image_ids, strict=True)
    ]
    np.testing.assert_allclose(depths, expected, atol=1e-12)
    # an observation by an image that is not in the model is ignored
    assert len(observed_depths(model, xyz, rows, np.where(image_ids == 4, 99, image_ids))) == 3 * len(xyz)


def test_world_scale_from_points3d_text(tmp_path):
    model, _, xyz, rows, image_ids = model_and_points()
    lines = []
    for r, p in enumerate(xyz):
        track = " ".join(f"{j} {k}" for k, j in enumerate(image_ids[rows == r]))
        lines.append(f"{r + 1} {p[0]} {p[1]} {p[2]} 128 128 128 0.5 {track}")
    (tmp_path / "points3D.txt").write_text("# 3D point list\n" + "\n".join(lines) + "\n")
    depths = observed_depths(model, xyz, rows, image_ids)
    scale = compute_world_scale(tmp_path, model, scene_depth=3.5)
    assert scale == pytest.approx(3.5 / np.percentile(depths, 95))
    assert 1.0 < scale < 2.0  # points at ~2 +- 0.5 from the cameras
    (tmp_path / "points3D.txt").write_text("# empty\n")
    assert compute_world_scale(tmp_path, model) is None  # no points: keep the model's scale


def test_colmap_import_rescales_unless_told_not_to(hand_made_scene, tmp_path):
    from panolift.capture.colmap_io import export_scene_to_colmap

    scene = Scene(hand_made_scene)
    export_scene_to_colmap(scene, tmp_path / "sparse")
    model, _, xyz, rows, image_ids = model_and_points()
    lines = [
        f"{r + 1} {p[0]} {p[1]} {p[2]} 0 0 0 0.1 " + " ".join(f"{j} 0" for j in range(1, 5))
        for r, p in enumerate(xyz)
    ]
    (tmp_path / "sparse" / "points3D.txt").write_text("\n".join(lines) + "\n")
    colour = hand_made_scene / "color"
    kept = import_colmap(tmp_path / "sparse", colour, tmp_path / "kept", scene_depth=0.0, orient=False)
    np.testing.assert_allclose(kept.poses, scene.poses, atol=1e-6)
    scaled = import_colmap(tmp_path / "sparse", colour, tmp_path / "scaled", scene_depth=3.5, orient=False)
    s = json.loads((tmp_path / "scaled" / "capture.json").read_text())["world_scale"]
    assert s != 1.0
    np.testing.assert_allclose(scaled.poses[:, :3, 3], s * scene.poses[:, :3, 3], atol=1e-6)
    np.testing.assert_allclose(scaled.poses[:, :3, :3], scene.poses[:, :3, :3], atol=1e-6)
    # by default the world is also turned (upright, walls along x and y): capture.json says how
    turned = import_colmap(tmp_path / "sparse", colour, tmp_path / "turned", scene_depth=3.5)
    record = json.loads((tmp_path / "turned" / "capture.json").read_text())
    rotation = np.asarray(record["world_rotation"])
    assert record["world_scale"] == s and np.allclose(rotation @ rotation.T, np.eye(3))
    np.testing.assert_allclose(turned.poses[:, :3, 3], s * scene.poses[:, :3, 3] @ rotation.T, atol=1e-6)
    np.testing.assert_allclose(turned.poses[:, :3, :3], rotation @ scene.poses[:, :3, :3], atol=1e-6)


def test_nerfstudio_scale(hand_made_scene, tmp_path):
    scene = Scene(hand_made_scene)
    export_scene_to_transforms(scene, tmp_path / "transforms.json")
    back = import_nerfstudio(tmp_path / "transforms.json", tmp_path / "out", scale=0.5)
    np.testing.assert_allclose(back.poses[:, :3, 3], 0.5 * scene.poses[:, :3, 3], atol=1e-6)
    with pytest.raises(ValueError, match="scale must be positive"):
        import_nerfstudio(tmp_path / "transforms.json", tmp_path / "out2", scale=0.0)
