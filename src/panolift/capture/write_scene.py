"""Writing an imported capture in the scene layout: one pinhole camera, undistorted colour frames, poses,
splits and the class set (the machine labels come later, from `panolift segment`)."""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from panolift.errors import OptionError
from panolift.scene import SCANNET21, Scene, SceneError, SceneWriter
from panolift.scene.io import image_size, write_image, write_json, write_matrix

from .undistort import CameraModel, needs_resampling, undistort_image

log = logging.getLogger(__name__)

COPYABLE_SUFFIXES = {".jpg": ".jpg", ".jpeg": ".jpg", ".png": ".png"}


@dataclass
class CaptureFrame:
    """One posed image of a capture, before import."""

    image_path: Path
    camera: CameraModel  # the camera that took this image (with its distortion)
    c2w: np.ndarray  # (4, 4) camera-to-world, OpenCV convention


def choose_target_camera(cameras: Iterable[CameraModel], max_size: int | None = None) -> CameraModel:
    """The scene's pinhole camera: the first camera's intrinsics without its distortion, reduced so that
    max(W, H) <= max_size.

    The first camera is kept as is (rather than, say, a mean) so that a single-camera capture without
    distortion is imported without resampling.
    """
    camera = next(iter(cameras)).pinhole()
    if max_size is not None and max(camera.size) > max_size:
        scale = max_size / max(camera.size)
        camera = camera.resized(max(1, round(camera.width * scale)), max(1, round(camera.height * scale)))
    return camera


def check_import_options(test_every: int = 8, max_size: int | None = None, scene_depth: float = 0.0) -> None:
    """Option values every import shares, checked before any work (structure from motion takes minutes)."""
    if test_every < 2:
        raise OptionError(f"--test-every must be at least 2, got {test_every}")
    if max_size is not None and max_size < 1:
        raise OptionError(f"--max-size must be a positive number of pixels, got {max_size}")
    if not scene_depth >= 0:
        raise OptionError(f"--scene-depth must be 0 (keep the scale) or positive, got {scene_depth}")


def split_every(names: list[str], test_every: int) -> tuple[list[str], list[str]]:
    """(train, test): every ``test_every``-th frame, starting with the first, is a test frame."""
    if test_every < 2:
        raise OptionError(f"--test-every must be at least 2, got {test_every}")
    test = names[::test_every]
    held_out = set(test)
    return [n for n in names if n not in held_out], test


def _camera_for_image(frame: CaptureFrame, size: tuple[int, int]) -> CameraModel:
    """The frame's camera at the image's actual size: a downscaled copy of the images (nerfstudio's
    images_2, ...) keeps the aspect ratio and scales the intrinsics."""
    camera = frame.camera
    if size == camera.size:
        return camera
    if abs(size[0] / camera.width - size[1] / camera.height) > 0.01:
        raise SceneError(
            f"{frame.image_path}: image is {size[0]}x{size[1]} but its camera is {camera.width}x{camera.height}"
        )
    log.info("%s: %dx%d image, camera %dx%d: scaling the intrinsics", frame.image_path, *size, *camera.size)
    return camera.resized(*size)


def _write_color(frame: CaptureFrame, name: str, target: CameraModel, root: Path) -> bool:
    """Write one colour frame (copied when no resampling is needed); returns True if it has invalid pixels."""
    suffix = frame.image_path.suffix.lower()
    try:
        with Image.open(frame.image_path) as img:  # the header only, until pixels are needed
            camera = _camera_for_image(frame, img.size)
            if not needs_resampling(camera, target) and suffix in COPYABLE_SUFFIXES:
                shutil.copyfile(frame.image_path, root / "color" / f"{name}{COPYABLE_SUFFIXES[suffix]}")
                return False
            rgb = np.asarray(img.convert("RGB"))
    except SceneError:
        raise
    except (OSError, ValueError) as exc:
        raise SceneError(f"{frame.image_path}: cannot read image ({exc})") from exc
    out, valid = undistort_image(rgb, camera, target)
    write_image(root / "color" / f"{name}{'.png' if suffix == '.png' else '.jpg'}", out)
    if valid.all():
        return False
    write_image(root / "invalid" / f"{name}.png", (~valid).astype(np.uint8) * 255)
    return True


def _check_frames(frames: list[CaptureFrame], out: Path) -> None:
    """Refuse before writing anything: no frames, an existing scene, a missing image, a bad pose."""
    if not frames:
        raise SceneError(f"{out}: no frames to import")
    if (out / "color").is_dir() and any((out / "color").iterdir()):
        raise SceneError(f"{out}: already holds a scene (color/ is not empty); choose a new output folder")
    for frame in frames:
        if not frame.image_path.is_file():
            raise SceneError(f"{frame.image_path}: image file does not exist")
        c2w = np.asarray(frame.c2w)
        if c2w.shape != (4, 4) or not np.all(np.isfinite(c2w)):
            raise SceneError(f"{frame.image_path}: pose is not a finite 4x4 matrix")
        if abs(np.linalg.det(c2w[:3, :3]) - 1.0) > 1e-3:
            raise SceneError(
                f"{frame.image_path}: pose rotation is not a rotation (det {np.linalg.det(c2w[:3, :3]):.4g})"
            )


def write_capture_scene(
    frames: list[CaptureFrame],
    out: str | Path,
    test_every: int = 8,
    max_size: int | None = None,
    test_images: set[Path] | None = None,
    metadata: dict | None = None,
    progress: Callable[[Iterable], Iterable] = lambda it: it,
):
    """Write ``frames`` (in this order, named 0, 1, ...) as a scene folder; returns the Scene.

    Every frame is resampled into one pinhole camera (see :func:`choose_target_camera`) unless it already
    is that camera. Pixels that no source pixel covers are marked in ``invalid/``. The test split is
    ``test_images`` when given, else every ``test_every``-th frame. ``capture.json`` records where each
    frame came from.
    """
    out = Path(out)
    _check_frames(frames, out)
    names = [str(i) for i in range(len(frames))]
    train, test = split_every(names, test_every)
    named = [n for n, f in zip(names, frames, strict=True) if f.image_path in (test_images or ())]
    if named:
        train, test = [n for n in names if n not in set(named)], named
    elif test_images:
        log.warning(
            "%s: none of the %d named test images is a frame; using every %d-th frame",
            out,
            len(test_images),
            test_every,
        )
    # the first image's own size decides (its camera may describe a larger original of the image)
    first = _camera_for_image(frames[0], image_size(frames[0].image_path))
    target = choose_target_camera([first], max_size)
    writer = SceneWriter(out)
    (out / "color").mkdir(exist_ok=True)
    num_invalid = 0
    for name, frame in progress(list(zip(names, frames, strict=True))):
        num_invalid += _write_color(frame, name, target, out)
        write_matrix(out / "pose" / f"{name}.txt", frame.c2w)
    writer.write_intrinsics(target.K)
    writer.write_splits(train, test)
    writer.write_segmentation_data(SCANNET21)
    record = dict(metadata or {})
    record.update(
        width=target.width,
        height=target.height,
        frames={n: str(f.image_path) for n, f in zip(names, frames, strict=True)},
        frames_with_invalid_pixels=num_invalid,
    )
    write_json(out / "capture.json", record)
    log.info("wrote %d frames (%dx%d, %d test) to %s", len(frames), *target.size, len(test), out)
    return Scene(out)
