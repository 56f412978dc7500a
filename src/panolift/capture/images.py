"""Frames of a capture from a folder of photos or from a video, normalised for structure from motion:
upright (EXIF orientation applied), RGB, at most ``max_size`` pixels on the long side, one resolution."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from panolift.errors import OptionError
from panolift.scene.io import SceneError, write_image

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
VIDEO_SUFFIXES = (".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg")


def natural_sort_key(name: str) -> list:
    """Sort key that orders embedded integers numerically: 'img2' < 'img10'."""
    return [int(tok) if tok.isdigit() else tok.lower() for tok in re.split(r"(\d+)", str(name))]


def list_images(folder: str | Path) -> list[Path]:
    """Image files of a folder (not recursive, hidden files skipped), in natural order."""
    folder = Path(folder)
    files = [
        p
        for p in folder.iterdir()
        if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".")
    ]
    return sorted(files, key=lambda p: natural_sort_key(p.name))


def is_video(path: str | Path) -> bool:
    return Path(path).is_file() and Path(path).suffix.lower() in VIDEO_SUFFIXES


def resize_to_max(rgb: np.ndarray, max_size: int | None) -> np.ndarray:
    """Downscale (area filter) so that max(W, H) <= max_size; never upscale."""
    h, w = rgb.shape[:2]
    if max_size is None or max(w, h) <= max_size:
        return rgb
    scale = max_size / max(w, h)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return np.asarray(Image.fromarray(rgb).resize(size, Image.Resampling.LANCZOS))


def _iter_folder(folder: Path, every: int) -> Iterator[tuple[str, np.ndarray]]:
    files = list_images(folder)
    if not files:
        raise SceneError(f"{folder}: no images ({', '.join(IMAGE_SUFFIXES)})")
    for path in files[::every]:
        try:
            with Image.open(path) as img:
                yield str(path), np.asarray(ImageOps.exif_transpose(img).convert("RGB"))
        except Exception as exc:
            raise SceneError(f"{path}: cannot read image ({exc})") from exc


def _iter_video(path: Path, every: int) -> Iterator[tuple[str, np.ndarray]]:
    import imageio.v3 as iio

    try:
        for index, frame in enumerate(iio.imiter(path, plugin="FFMPEG")):
            if index % every == 0:
                yield f"{path}#{index}", np.asarray(frame)[..., :3]
    except (OSError, RuntimeError) as exc:
        raise SceneError(f"{path}: cannot decode video ({exc})") from exc


def extract_frames(
    source: str | Path, out_dir: str | Path, every: int = 1, max_size: int | None = None
) -> list[tuple[Path, str]]:
    """Write every ``every``-th frame of a folder or a video as ``out_dir/00000.jpg`` ...

    Returns (written file, origin) pairs; origin is the source file, or ``VIDEO#frame_index``. All frames
    must share one resolution (after EXIF rotation): the scene layout has one camera.
    """
    source, out_dir = Path(source), Path(out_dir)
    if every < 1:
        raise OptionError(f"--every must be at least 1, got {every}")
    if source.is_dir():
        frames = _iter_folder(source, every)
    elif is_video(source):
        frames = _iter_video(source, every)
    else:
        raise SceneError(f"{source}: neither a folder of images nor a video ({', '.join(VIDEO_SUFFIXES)})")
    written: list[tuple[Path, str]] = []
    size = None
    for origin, rgb in frames:
        rgb = resize_to_max(rgb, max_size)
        if size is None:
            size = rgb.shape[:2]
        elif rgb.shape[:2] != size:
            raise SceneError(
                f"{origin}: {rgb.shape[1]}x{rgb.shape[0]} differs from the first frame's {size[1]}x{size[0]}; "
                "all frames of a capture must have one resolution and orientation"
            )
        path = out_dir / f"{len(written):05d}.jpg"
        write_image(path, rgb)
        written.append((path, origin))
    log.info("extracted %d frames from %s into %s", len(written), source, out_dir)
    return written
