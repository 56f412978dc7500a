"""Writing an imported capture: refusals before anything is written, splits."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from panolift.capture.undistort import CameraModel
from panolift.capture.write_scene import CaptureFrame, choose_target_camera, split_every, write_capture_scene
from panolift.scene import SceneError


def frames_in(folder, num=3):
    camera = CameraModel(32, 24, 30.0, 30.0, 16.0, 12.0)
    frames = []
    for i in range(num):
        Image.fromarray(np.full((24, 32, 3), 40 * i, np.uint8)).save(folder / f"{i}.png")
        frames.append(CaptureFrame(folder / f"{i}.png", camera, np.eye(4)))
    return frames


def test_bad_inputs_are_refused_before_writing(tmp_path):
    frames = frames_in(tmp_path)
    frames[1].c2w = np.diag([2.0, 1.0, 1.0, 1.0])
    with pytest.raises(SceneError, match=r"1.png: pose rotation is not a rotation"):
        write_capture_scene(frames, tmp_path / "out")
    frames[1].c2w = np.eye(4)
    frames[2].image_path = tmp_path / "gone.png"
    with pytest.raises(SceneError, match="gone.png: image file does not exist"):
        write_capture_scene(frames, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    with pytest.raises(SceneError, match="no frames"):
        write_capture_scene([], tmp_path / "out")


def test_splits_and_named_test_images(tmp_path):
    assert split_every([str(i) for i in range(10)], 4) == (
        ["1", "2", "3", "5", "6", "7", "9"],
        ["0", "4", "8"],
    )
    with pytest.raises(ValueError, match="at least 2"):
        split_every(["0"], 1)
    frames = frames_in(tmp_path, 5)
    scene = write_capture_scene(frames, tmp_path / "a", test_images={tmp_path / "3.png"})
    assert scene.test_frames == ["3"] and scene.train_frames == ["0", "1", "2", "4"]
    scene = write_capture_scene(frames, tmp_path / "b", test_every=2, test_images={tmp_path / "other.png"})
    assert scene.test_frames == ["0", "2", "4"]


def test_target_camera_is_the_first_reduced_to_max_size():
    cam = CameraModel(4000, 3000, 3000.0, 3000.0, 2000.0, 1500.0, kind="radtan", radial=(0.1,))
    target = choose_target_camera([cam], max_size=1000)
    assert (target.size, target.kind, target.fx, target.cx) == ((1000, 750), "pinhole", 750.0, 500.0)
