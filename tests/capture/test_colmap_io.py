"""COLMAP models: text/binary reading and writing, agreement with pycolmap, import/export round trips."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pycolmap
import pytest
from PIL import Image
from scipy.spatial.transform import Rotation

from panolift.capture.colmap_import import import_colmap
from panolift.capture.colmap_io import (
    ColmapCamera,
    ColmapImage,
    ColmapModel,
    export_scene_to_colmap,
    read_colmap_model,
    write_colmap_model,
)
from panolift.capture.poses import qvec_from_rotation
from panolift.scene import Scene, SceneError


def make_model() -> ColmapModel:
    rng = np.random.default_rng(0)
    cameras = {
        1: ColmapCamera(1, "PINHOLE", 64, 48, np.array([50.5, 51.25, 32.1, 23.9])),
        7: ColmapCamera(
            7, "OPENCV", 640, 480, np.array([500.0, 501.0, 320.0, 240.0, -0.1, 0.01, 1e-3, -2e-3])
        ),
    }
    images = {}
    for i in (1, 2, 5):
        qvec = qvec_from_rotation(Rotation.random(random_state=i).as_matrix())
        images[i] = ColmapImage(i, qvec, rng.normal(size=3), 1 if i < 5 else 7, f"sub dir/frame_{i}.jpg")
    return ColmapModel(cameras, images)


@pytest.mark.parametrize("binary", [False, True])
def test_write_then_read_is_exact(tmp_path, binary):
    model = make_model()
    write_colmap_model(tmp_path, model, binary=binary)
    assert (tmp_path / ("points3D.bin" if binary else "points3D.txt")).exists()
    back = read_colmap_model(tmp_path)
    assert back.cameras.keys() == model.cameras.keys() and back.images.keys() == model.images.keys()
    for k, cam in model.cameras.items():
        assert (back.cameras[k].model, back.cameras[k].width, back.cameras[k].height) == (
            cam.model,
            cam.width,
            cam.height,
        )
        np.testing.assert_array_equal(back.cameras[k].params, cam.params)
    for k, im in model.images.items():
        assert back.images[k].name == im.name and back.images[k].camera_id == im.camera_id
        np.testing.assert_array_equal(back.images[k].qvec, im.qvec)
        np.testing.assert_array_equal(back.images[k].tvec, im.tvec)


@pytest.mark.parametrize("binary", [False, True])
def test_reads_what_pycolmap_writes(tmp_path, binary):
    reconstruction = pycolmap.Reconstruction()
    camera = pycolmap.Camera.create_from_model_name(3, "SIMPLE_RADIAL", 70.0, 64, 48)
    reconstruction.add_camera_with_trivial_rig(camera)
    for i in range(1, 5):
        x, y, z, w = Rotation.random(random_state=10 + i).as_quat()
        pose = pycolmap.Rigid3d(pycolmap.Rotation3d([x, y, z, w]), np.array([0.1 * i, -1.0, 2.0]))
        reconstruction.add_image_with_trivial_frame(
            pycolmap.Image(name=f"{i}.png", camera_id=3, image_id=i), pose
        )
    (reconstruction.write_binary if binary else reconstruction.write_text)(str(tmp_path))
    model = read_colmap_model(tmp_path)
    assert model.cameras[3].model == "SIMPLE_RADIAL"
    np.testing.assert_allclose(model.cameras[3].params, camera.params)
    for i, image in model.images.items():
        w2c = np.linalg.inv(image.c2w)[:3]
        np.testing.assert_allclose(w2c, reconstruction.image(i).cam_from_world().matrix(), atol=1e-12)


def test_malformed_models_are_reported_with_their_file(tmp_path):
    (tmp_path / "0").mkdir()
    with pytest.raises(SceneError, match="sparse/0"):
        read_colmap_model(tmp_path)
    (tmp_path / "images.txt").write_text("1 1 0 0 0 0 0 0 2 a.jpg\n\n")
    (tmp_path / "cameras.txt").write_text("1 PINHOLE 64 48 50 50\n")
    with pytest.raises(SceneError, match=r"cameras.txt: camera 1 \(PINHOLE\) needs 4 parameters, got 2"):
        read_colmap_model(tmp_path)
    (tmp_path / "cameras.txt").write_text("1 PINHOLE 64 48 50 50 32 24\n")
    with pytest.raises(SceneError, match="'a.jpg' refers to missing camera 2"):
        read_colmap_model(tmp_path)


@pytest.mark.parametrize("binary", [False, True])
def test_scene_to_colmap_and_back_keeps_poses_and_intrinsics(hand_made_scene, tmp_path, binary):
    scene = Scene(hand_made_scene)
    export_scene_to_colmap(scene, tmp_path / "sparse", binary=binary)
    back = import_colmap(tmp_path / "sparse", hand_made_scene / "color", tmp_path / "imported")
    assert back.frame_names == scene.frame_names  # names 0.png, 1.png, ... sort numerically
    np.testing.assert_allclose(back.poses, scene.poses, atol=1e-5)
    np.testing.assert_allclose(back.intrinsics, scene.intrinsics, atol=1e-5)
    for name in scene.frame_names:  # no resampling: the images are copied byte for byte
        assert back.color_path(name).read_bytes() == scene.color_path(name).read_bytes()
    assert back.test_frames == back.frame_names[::8] and not (tmp_path / "imported" / "invalid").exists()
    back.validate()


def test_distorted_cameras_are_undistorted_into_one_pinhole(tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    rng = np.random.default_rng(0)
    cameras = {
        1: ColmapCamera(1, "OPENCV", 80, 60, np.array([70.0, 70.0, 40.0, 30.0, 0.15, 0.05, 0.0, 0.0])),
        2: ColmapCamera(2, "PINHOLE", 160, 120, np.array([150.0, 150.0, 80.0, 60.0])),
    }
    model = ColmapModel(cameras, {})
    for i in range(1, 4):
        cam = cameras[1 if i < 3 else 2]
        Image.fromarray(rng.integers(0, 256, (cam.height, cam.width, 3), dtype=np.uint8)).save(
            images / f"{i}.jpg"
        )
        model.images[i] = ColmapImage(
            i, np.array([1.0, 0, 0, 0]), np.array([0.0, 0, i]), cam.camera_id, f"{i}.jpg"
        )
    write_colmap_model(tmp_path / "sparse", model)
    scene = import_colmap(tmp_path / "sparse", images, tmp_path / "scene", max_size=64, orient=False)
    assert scene.native_size == (64, 48)
    np.testing.assert_allclose(scene.intrinsics, [[56.0, 0, 32.0], [0, 56.0, 24.0], [0, 0, 1]], atol=1e-9)
    # pincushion distortion (k1 > 0) pulls the corners out of the source image: they are marked invalid
    invalid = np.asarray(Image.open(Path(scene.root) / "invalid" / "0.png")) > 0
    assert invalid[0, 0] and not invalid[24, 32]
    assert scene.invalid_mask("0")[0, 0]
    np.testing.assert_allclose(scene.pose("2")[:3, 3], [0.0, 0.0, -3.0])
    scene.validate()


def test_missing_images_and_existing_scene_are_refused(hand_made_scene, tmp_path):
    scene = Scene(hand_made_scene)
    export_scene_to_colmap(scene, tmp_path / "sparse")
    with pytest.raises(SceneError, match="missing"):
        import_colmap(tmp_path / "sparse", tmp_path, tmp_path / "out")
    with pytest.raises(SceneError, match="already holds a scene"):
        import_colmap(tmp_path / "sparse", hand_made_scene / "color", hand_made_scene)
