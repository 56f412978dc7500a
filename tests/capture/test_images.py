"""Frames from a folder of photos or from a video (imageio + ffmpeg)."""

from __future__ import annotations

import imageio.v3 as iio
import numpy as np
import pytest
from PIL import Image

from panolift.capture.images import extract_frames, list_images, natural_sort_key
from panolift.scene import Scene, SceneError


def test_natural_order_every_and_max_size(tmp_path):
    src = tmp_path / "photos"
    src.mkdir()
    rng = np.random.default_rng(0)
    for i in (1, 2, 10, 3, 20):
        Image.fromarray(rng.integers(0, 256, (60, 80, 3), dtype=np.uint8)).save(src / f"IMG_{i}.JPG")
    (src / ".hidden.jpg").write_bytes(b"")
    (src / "notes.txt").write_text("not an image")
    assert [p.name for p in list_images(src)] == [
        "IMG_1.JPG",
        "IMG_2.JPG",
        "IMG_3.JPG",
        "IMG_10.JPG",
        "IMG_20.JPG",
    ]
    assert sorted(["b10", "b9", "a"], key=natural_sort_key) == ["a", "b9", "b10"]
    written = extract_frames(src, tmp_path / "frames", every=2, max_size=40)
    assert [origin.rsplit("/", 1)[-1] for _, origin in written] == ["IMG_1.JPG", "IMG_3.JPG", "IMG_20.JPG"]
    assert [p.name for p, _ in written] == ["00000.jpg", "00001.jpg", "00002.jpg"]
    assert all(Image.open(p).size == (40, 30) for p, _ in written)


def test_exif_rotation_is_applied_and_mixed_sizes_refused(tmp_path):
    src = tmp_path / "photos"
    src.mkdir()
    img = Image.fromarray(np.zeros((30, 40, 3), np.uint8))
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 degrees to display
    img.save(src / "a.jpg", exif=exif)
    written = extract_frames(src, tmp_path / "frames")
    assert Image.open(written[0][0]).size == (30, 40)
    Image.fromarray(np.zeros((30, 40, 3), np.uint8)).save(src / "b.jpg")
    with pytest.raises(SceneError, match=r"b.jpg: 40x30 differs from the first frame's 30x40"):
        extract_frames(src, tmp_path / "frames2")


def test_frames_from_a_video(tiny_scene, tmp_path):
    scene = Scene(tiny_scene)
    frames = np.stack([(scene.rgb(n) * 255 + 0.5).astype(np.uint8) for n in scene.frame_names])
    video = tmp_path / "walk.mp4"
    iio.imwrite(video, frames, fps=10, plugin="FFMPEG", codec="libx264", macro_block_size=16, quality=9)
    written = extract_frames(video, tmp_path / "frames", every=3)
    assert len(written) == len(frames[::3]) and written[1][1].endswith("walk.mp4#3")
    for (path, _), original in zip(written, frames[::3], strict=True):
        decoded = np.asarray(Image.open(path), dtype=np.float64)
        assert decoded.shape == original.shape
        # measured ~2.5-3 (lossy video); neighbouring frames differ by ~25-33, so this pins the frame index
        assert np.abs(decoded - original).mean() < 6.0


def test_bad_sources_are_reported(tmp_path):
    (tmp_path / "clip.txt").write_text("x")
    with pytest.raises(SceneError, match="neither a folder of images nor a video"):
        extract_frames(tmp_path / "clip.txt", tmp_path / "out")
    (tmp_path / "empty").mkdir()
    with pytest.raises(SceneError, match="no images"):
        extract_frames(tmp_path / "empty", tmp_path / "out")
    (tmp_path / "broken.mp4").write_bytes(b"not a video")
    with pytest.raises(SceneError, match="broken.mp4: cannot decode video"):
        extract_frames(tmp_path / "broken.mp4", tmp_path / "out")
