"""File helpers for the scene layout: images, matrices and atomic writes."""

from __future__ import annotations

import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from PIL import Image


class SceneError(ValueError):
    """A scene folder (or a file in it) is malformed. The message names the file and the problem."""


@contextmanager
def atomic_path(path: str | Path):
    """Yield a temporary path beside ``path``; on success rename it over ``path`` (atomic on POSIX)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_image(path: str | Path, array: np.ndarray, quality: int = 95) -> None:
    """Write uint8 (H,W) / (H,W,3) or uint16 (H,W) arrays as PNG or JPEG (by suffix, JPEG at ``quality``),
    atomically."""
    path = Path(path)
    if array.dtype == np.uint16:
        img = Image.fromarray(array)  # 16-bit greyscale PNG
    else:
        img = Image.fromarray(np.asarray(array, dtype=np.uint8))
    with atomic_path(path) as tmp:
        if path.suffix.lower() in (".jpg", ".jpeg"):
            img.save(tmp, format="JPEG", quality=quality)
        else:
            img.save(tmp, format="PNG")


def read_rgb(path: str | Path) -> np.ndarray:
    """Read an 8-bit colour image as uint8 (H,W,3)."""
    try:
        with Image.open(path) as img:
            return np.asarray(img.convert("RGB"))
    except Exception as exc:
        raise SceneError(f"{path}: cannot read colour image ({exc})") from exc


def read_label(path: str | Path) -> np.ndarray:
    """Read a label PNG (8- or 16-bit, single channel) as int64 (H,W)."""
    try:
        with Image.open(path) as img:
            arr = np.asarray(img)
    except Exception as exc:
        raise SceneError(f"{path}: cannot read label image ({exc})") from exc
    if arr.ndim == 3:  # some tools save labels as RGB with equal channels
        arr = arr[..., 0]
    return arr.astype(np.int64)


def image_size(path: str | Path) -> tuple[int, int]:
    """(width, height) of an image without decoding its pixels."""
    try:
        with Image.open(path) as img:
            return img.size
    except Exception as exc:
        raise SceneError(f"{path}: cannot read image ({exc})") from exc


def read_matrix(path: str | Path, shape: tuple[int, int] = (4, 4)) -> np.ndarray:
    """Read a whitespace-separated matrix text file; errors name the file and the problem."""
    try:
        mat = np.loadtxt(path, dtype=np.float64, ndmin=2)
    except Exception as exc:
        raise SceneError(f"{path}: cannot parse matrix ({exc})") from exc
    if mat.shape != shape:
        raise SceneError(f"{path}: expected a {shape[0]}x{shape[1]} matrix, got shape {mat.shape}")
    if not np.all(np.isfinite(mat)):
        raise SceneError(f"{path}: matrix has non-finite entries")
    return mat


def write_matrix(path: str | Path, mat: np.ndarray) -> None:
    with atomic_path(path) as tmp:
        np.savetxt(tmp, np.asarray(mat, dtype=np.float64), fmt="%.9f")


def write_json(path: str | Path, obj) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2))


def write_npz(path: str | Path, **arrays: np.ndarray) -> None:
    path = Path(path)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.savez_compressed(f, **arrays)
