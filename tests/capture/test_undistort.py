"""Camera models and undistortion, checked against pycolmap's own camera models."""

from __future__ import annotations

import numpy as np
import pycolmap
import pytest

from panolift.capture.colmap_io import ColmapCamera, camera_model_from_colmap
from panolift.capture.undistort import (
    CameraModel,
    compute_undistort_maps,
    distort_points,
    remap_bilinear,
    undistort_image,
)
from panolift.scene import SceneError

W, H = 96, 72
COLMAP_CAMERAS = {
    "SIMPLE_RADIAL": [80.0, 47.0, 37.0, -0.08],
    "RADIAL": [80.0, 47.0, 37.0, -0.1, 0.02],
    "OPENCV": [82.0, 79.0, 49.0, 35.0, -0.12, 0.03, 0.002, -0.001],
    "FULL_OPENCV": [82.0, 79.0, 49.0, 35.0, -0.1, 0.02, 0.001, -0.002, 0.003, 0.05, 0.01, 0.002],
    "OPENCV_FISHEYE": [60.0, 61.0, 48.0, 36.0, 0.05, -0.01, 0.004, -0.001],
    "SIMPLE_RADIAL_FISHEYE": [60.0, 48.0, 36.0, 0.04],
    "RADIAL_FISHEYE": [60.0, 48.0, 36.0, 0.04, -0.01],
    "FISHEYE": [60.0, 62.0, 48.0, 36.0],
}


def pycolmap_camera(model: str, params) -> pycolmap.Camera:
    camera = pycolmap.Camera.create_from_model_name(1, model, 1.0, W, H)
    camera.params = params
    return camera


def ours(model: str, params) -> CameraModel:
    return camera_model_from_colmap(ColmapCamera(1, model, W, H, np.array(params)))


@pytest.mark.parametrize("model", sorted(COLMAP_CAMERAS))
def test_projection_matches_pycolmap(model):
    params = COLMAP_CAMERAS[model]
    rng = np.random.default_rng(0)
    xy = rng.uniform(-0.6, 0.6, size=(200, 2))
    expected = pycolmap_camera(model, params).img_from_cam(np.concatenate([xy, np.ones((200, 1))], axis=1))
    camera = ours(model, params)
    xd, yd = distort_points(camera, xy[:, 0], xy[:, 1])
    got = np.stack([camera.fx * xd + camera.cx, camera.fy * yd + camera.cy], axis=-1)
    np.testing.assert_allclose(got, expected, atol=1e-9)


def test_unsupported_model_is_refused_with_file_and_model():
    with pytest.raises(SceneError, match=r"cameras\.txt.*FOV"):
        camera_model_from_colmap(
            ColmapCamera(3, "FOV", W, H, np.array([50.0, 50.0, 48, 36, 0.9])), "x/cameras.txt"
        )


def pattern(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """A smooth colour pattern on the normalised image plane (values in 0..255)."""
    r = 127.5 + 110 * np.sin(7.0 * x) * np.cos(5.0 * y)
    g = 127.5 + 110 * np.cos(4.0 * x + 3.0 * y)
    b = 127.5 + 110 * np.sin(6.0 * y - 2.0 * x)
    return np.stack([r, g, b], axis=-1)


@pytest.mark.parametrize("model", ["OPENCV", "FULL_OPENCV", "OPENCV_FISHEYE"])
def test_undistorted_image_matches_the_pinhole_view(model):
    params = COLMAP_CAMERAS[model]
    cols, rows = np.meshgrid(np.arange(W) + 0.5, np.arange(H) + 0.5)
    # the distorted image, made with pycolmap's (iterative) inverse of the distortion: independent of ours
    xy = pycolmap_camera(model, params).cam_from_img(np.stack([cols.ravel(), rows.ravel()], axis=-1))
    distorted = np.clip(pattern(xy[:, 0], xy[:, 1]).reshape(H, W, 3) + 0.5, 0, 255).astype(np.uint8)
    source = ours(model, params)
    target = source.pinhole()
    out, valid = undistort_image(distorted, source, target)
    expected = pattern((cols - target.cx) / target.fx, (rows - target.cy) / target.fy)
    err = np.abs(out.astype(np.float64) - expected)[valid]
    assert valid.mean() > 0.8
    assert np.median(err) < 1.0 and np.percentile(err, 95) < 3.0  # measured: ~0.27 and ~0.65 (of 255)
    # without undistortion the same comparison is far off: the test sees the distortion
    assert np.median(np.abs(distorted.astype(np.float64) - expected)[valid]) > 4 * np.median(err)


def test_undistort_into_a_smaller_camera_filters_before_reducing():
    model, params = "OPENCV", COLMAP_CAMERAS["OPENCV"]
    cols, rows = np.meshgrid(np.arange(W) + 0.5, np.arange(H) + 0.5)
    xy = pycolmap_camera(model, params).cam_from_img(np.stack([cols.ravel(), rows.ravel()], axis=-1))
    distorted = np.clip(pattern(xy[:, 0], xy[:, 1]).reshape(H, W, 3) + 0.5, 0, 255).astype(np.uint8)
    target = ours(model, params).pinhole().resized(W // 2, H // 2)
    out, valid = undistort_image(distorted, ours(model, params), target)
    assert out.shape == (H // 2, W // 2, 3) and valid.mean() > 0.9
    c, r = np.meshgrid(np.arange(W // 2) + 0.5, np.arange(H // 2) + 0.5)
    expected = pattern((c - target.cx) / target.fx, (r - target.cy) / target.fy)
    # measured 0.47: a 2x2 box average of a smooth pattern
    assert np.median(np.abs(out - expected)[valid]) < 1.5


def test_pinhole_identity_and_plain_resize():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, size=(H, W, 3), dtype=np.uint8)
    camera = CameraModel(W, H, 80.0, 80.0, 48.0, 36.0)
    out, valid = undistort_image(image, camera, camera)
    assert out is image and valid.all()
    small, valid = undistort_image(image, camera, camera.resized(W // 2, H // 2))
    assert small.shape == (H // 2, W // 2, 3) and valid.all()
    box = image.astype(np.float64).reshape(H // 2, 2, W // 2, 2, 3).mean(axis=(1, 3))
    assert np.abs(small - box).mean() < 25  # Lanczos vs box on noise: close, not equal


def test_remap_bilinear_matches_a_slow_reference():
    rng = np.random.default_rng(1)
    image = rng.uniform(0, 255, size=(7, 9, 3)).astype(np.float32)
    map_x = rng.uniform(-1, 9, size=(5, 6))
    map_y = rng.uniform(-1, 7, size=(5, 6))
    got = remap_bilinear(image, map_x, map_y)
    for i in range(5):
        for j in range(6):
            x, y = np.clip(map_x[i, j], 0, 8), np.clip(map_y[i, j], 0, 6)
            x0, y0 = min(int(x), 7), min(int(y), 5)
            a, b = x - x0, y - y0
            ref = (
                image[y0, x0] * (1 - a) * (1 - b) + image[y0, x0 + 1] * a * (1 - b)
                + image[y0 + 1, x0] * (1 - a) * b + image[y0 + 1, x0 + 1] * a * b
            )  # fmt: skip
            np.testing.assert_allclose(got[i, j], ref, rtol=1e-5, atol=1e-3)


def test_fisheye_wider_than_the_target_marks_folded_and_outside_pixels_invalid():
    source = CameraModel(W, H, 30.0, 30.0, 48.0, 36.0, kind="fisheye", radial=(-0.3, 0.0, 0.0, 0.0))
    target = CameraModel(W, H, 15.0, 15.0, 48.0, 36.0)  # a very wide pinhole: corners fall outside
    _, _, valid = compute_undistort_maps(source, target)
    assert valid[H // 2, W // 2] and not valid[0, 0]
