"""nerfstudio / instant-ngp transforms.json: import/export round trips, per-frame intrinsics, fisheye."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from PIL import Image

from panolift.capture.nerfstudio import export_scene_to_transforms, frames_from_transforms, import_nerfstudio
from panolift.capture.poses import opengl_from_opencv
from panolift.scene import Scene, SceneError

from .conftest import orbit_poses


def test_scene_to_transforms_and_back_keeps_poses_intrinsics_and_splits(hand_made_scene, tmp_path):
    scene = Scene(hand_made_scene)
    export_scene_to_transforms(scene, tmp_path / "ns" / "transforms.json")
    meta = json.loads((tmp_path / "ns" / "transforms.json").read_text())
    # OpenGL convention in the file: the camera looks down -z, so column 2 is minus OpenCV's
    np.testing.assert_allclose(
        np.array(meta["frames"][0]["transform_matrix"])[:3, 2], -scene.pose("0")[:3, 2]
    )
    back = import_nerfstudio(tmp_path / "ns" / "transforms.json", tmp_path / "imported")
    assert len(back.frame_names) == len(scene.frame_names)
    np.testing.assert_allclose(back.poses, scene.poses, atol=1e-5)
    np.testing.assert_allclose(back.intrinsics, scene.intrinsics, atol=1e-5)
    assert back.test_frames == scene.test_frames  # the file's test_filenames are honoured
    for name in scene.frame_names:
        assert back.color_path(name).read_bytes() == scene.color_path(name).read_bytes()
    back.validate()


def pattern_image(fx: float, fy: float, cx: float, cy: float, w: int, h: int) -> np.ndarray:
    """A smooth pattern defined on the normalised image plane, as seen by a pinhole camera."""
    cols, rows = np.meshgrid(np.arange(w) + 0.5, np.arange(h) + 0.5)
    x, y = (cols - cx) / fx, (rows - cy) / fy
    rgb = np.stack([np.sin(6 * x) * np.cos(4 * y), np.cos(5 * x + 2 * y), np.sin(3 * y - x)], axis=-1)
    return np.clip(127.5 + 110 * rgb + 0.5, 0, 255).astype(np.uint8)


def test_per_frame_intrinsics_are_resampled_into_the_first_camera(tmp_path):
    poses = orbit_poses(3)
    cams = [
        (60.0, 60.0, 40.0, 30.0, 80, 60),
        (110.0, 108.0, 62.0, 44.0, 120, 90),
        (45.0, 45.0, 41.0, 29.0, 80, 60),
    ]
    frames = []
    for i, (cam, c2w) in enumerate(zip(cams, poses, strict=True)):
        Image.fromarray(pattern_image(*cam)).save(tmp_path / f"img_{i}.png")
        fx, fy, cx, cy, w, h = cam
        frames.append({
            "file_path": f"img_{i}.png", "transform_matrix": opengl_from_opencv(c2w).tolist(),
            "fl_x": fx, "fl_y": fy, "cx": cx, "cy": cy, "w": w, "h": h,
        })  # fmt: skip
    (tmp_path / "transforms.json").write_text(json.dumps({"camera_model": "OPENCV", "frames": frames}))
    scene = import_nerfstudio(tmp_path / "transforms.json", tmp_path / "scene")
    np.testing.assert_allclose(scene.intrinsics, [[60.0, 0, 40.0], [0, 60.0, 30.0], [0, 0, 1]])
    np.testing.assert_allclose(scene.poses, poses, atol=1e-6)
    expected = pattern_image(60.0, 60.0, 40.0, 30.0, 80, 60).astype(np.float64)
    for name in ("1", "2"):
        got = scene.rgb(name).astype(np.float64) * 255.0
        valid = ~scene.invalid_mask(name)
        err = np.abs(got - expected)[valid]
        assert np.median(err) < 2.0, (name, np.median(err))
    assert scene.invalid_mask("1")[0, 0] and not scene.invalid_mask("2").any()  # frame 1 sees a narrower view


def test_instant_ngp_camera_angle_and_blender_paths(tmp_path):
    (tmp_path / "train").mkdir()
    c2w = orbit_poses(2)
    for i in range(2):
        Image.fromarray(np.full((40, 40, 4), 200, np.uint8)).save(tmp_path / "train" / f"r_{i}.png")
    meta = {
        "camera_angle_x": 0.6911112070083618,
        "frames": [
            {"file_path": f"./train/r_{i}", "transform_matrix": opengl_from_opencv(c2w[i]).tolist()}
            for i in range(2)
        ],
    }
    (tmp_path / "transforms_train.json").write_text(json.dumps(meta))
    frames, test = frames_from_transforms(tmp_path / "transforms_train.json")
    assert test is None and frames[1].image_path.name == "r_1.png"
    fx = 40 / (2 * math.tan(0.6911112070083618 / 2))
    assert frames[0].camera.fx == pytest.approx(fx) and frames[0].camera.fy == pytest.approx(fx)
    assert (frames[0].camera.cx, frames[0].camera.cy, frames[0].camera.kind) == (20.0, 20.0, "pinhole")


def test_fisheye_is_undistorted_and_equirectangular_refused(tmp_path):
    c2w = orbit_poses(2)
    for i in range(2):
        Image.fromarray(pattern_image(30.0, 30.0, 32.0, 24.0, 64, 48)).save(tmp_path / f"{i}.jpg")
    meta = {
        "camera_model": "OPENCV_FISHEYE", "fl_x": 30.0, "fl_y": 30.0, "cx": 32.0, "cy": 24.0, "w": 64, "h": 48,
        "k1": 0.05, "k2": 0.01, "k3": 0.0, "k4": 0.0,
        "frames": [{"file_path": f"{i}.jpg", "transform_matrix": opengl_from_opencv(c2w[i]).tolist()} for i in range(2)],
    }  # fmt: skip
    (tmp_path / "transforms.json").write_text(json.dumps(meta))
    frames, _ = frames_from_transforms(tmp_path / "transforms.json")
    assert frames[0].camera.kind == "fisheye" and frames[0].camera.radial == (0.05, 0.01, 0.0, 0.0)
    scene = import_nerfstudio(tmp_path / "transforms.json", tmp_path / "scene")
    # the pinhole with the fisheye's focal length sees less than the fisheye: all pixels valid, content moved
    assert scene.native_size == (64, 48) and not (tmp_path / "scene" / "invalid").exists()
    source = np.asarray(Image.open(tmp_path / "0.jpg"), dtype=np.float64)
    assert np.abs(scene.rgb("0") * 255.0 - source).mean() > 5.0
    meta["camera_model"] = "EQUIRECTANGULAR"
    (tmp_path / "pano.json").write_text(json.dumps(meta))
    with pytest.raises(SceneError, match=r"pano\.json: camera_model EQUIRECTANGULAR \(frame 0\.jpg\)"):
        frames_from_transforms(tmp_path / "pano.json")


def test_malformed_transforms_are_reported(tmp_path):
    path = tmp_path / "transforms.json"
    with pytest.raises(SceneError, match="does not exist"):
        frames_from_transforms(path)
    path.write_text(
        json.dumps({"frames": [{"file_path": "missing.png", "transform_matrix": np.eye(4).tolist()}]})
    )
    with pytest.raises(SceneError, match="missing.png"):
        frames_from_transforms(path)
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(tmp_path / "a.png")
    path.write_text(
        json.dumps({"fl_x": 3, "frames": [{"file_path": "a.png", "transform_matrix": [[1, 0], [0, 1]]}]})
    )
    with pytest.raises(SceneError, match="frame 0 transform_matrix"):
        frames_from_transforms(path)


def test_downscaled_image_folder_scales_the_intrinsics(tmp_path):
    # nerfstudio keeps the full-size intrinsics in transforms.json and downscaled copies in images_2/
    c2w = orbit_poses(2)
    for i in range(2):
        Image.fromarray(pattern_image(30.0, 30.0, 20.0, 15.0, 40, 30)).save(tmp_path / f"{i}.png")
    meta = {
        "fl_x": 60.0, "fl_y": 60.0, "cx": 40.0, "cy": 30.0, "w": 80, "h": 60,
        "frames": [{"file_path": f"{i}.png", "transform_matrix": opengl_from_opencv(c2w[i]).tolist()} for i in range(2)],
    }  # fmt: skip
    (tmp_path / "transforms.json").write_text(json.dumps(meta))
    scene = import_nerfstudio(tmp_path / "transforms.json", tmp_path / "scene")
    assert scene.native_size == (40, 30)
    np.testing.assert_allclose(scene.intrinsics, [[30.0, 0, 20.0], [0, 30.0, 15.0], [0, 0, 1]])
    assert scene.color_path("0").read_bytes() == (tmp_path / "0.png").read_bytes()  # no resampling
    meta["w"] = 60  # another aspect ratio: not a downscaled copy
    (tmp_path / "bad.json").write_text(json.dumps(meta))
    with pytest.raises(SceneError, match=r"0.png: image is 40x30 but its camera is 60x60"):
        import_nerfstudio(tmp_path / "bad.json", tmp_path / "bad")
