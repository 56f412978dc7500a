"""Reading a prediction folder (``semantics/``, ``instance/``, optional ``rgb/``, one PNG per frame).

The layout is what ``panolift render`` writes under ``RUN/render/<split>/``. Every problem (a missing frame,
an image of the wrong size, a class id out of range) is a SceneError that names the file.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from panolift.scene import Scene, SceneError
from panolift.scene.checks import check_class_ids
from panolift.scene.io import check_color_header, check_label_header, read_label, read_rgb


@dataclass
class PredictionSource:
    """Where the prediction images are, and which scene they were made for (for a run folder, see
    :func:`panolift.runs.resolve_prediction`)."""

    folder: Path  # holds semantics/, instance/, optional rgb/
    scene_root: Path
    run_dir: Path | None = None  # the run the predictions were rendered from, when known


def open_scene_for(source: PredictionSource, frames_from: str = "test") -> Scene:
    """The scene at the size the prediction was made at (it must keep the scene's aspect ratio)."""
    scene = Scene(source.scene_root)
    frames = scene.splits[frames_from]
    if not frames:
        raise SceneError(f"{source.scene_root}: the '{frames_from}' split is empty")
    first = source.folder / "semantics" / f"{frames[0]}.png"
    if not os.path.lexists(first):
        raise SceneError(f"{first}: missing prediction for test frame '{frames[0]}'")
    w, h = check_label_header(first, "predicted semantics")
    nw, nh = scene.native_size
    if abs(w * nh - h * nw) > max(nw, nh):  # same aspect ratio up to rounding
        raise SceneError(f"{first}: size {w}x{h} does not have the scene's aspect ratio ({nw}x{nh})")
    return scene if (w, h) == (nw, nh) else Scene(source.scene_root, size=(w, h))


def _read(path: Path, size: tuple[int, int], what: str, label: bool = True):
    """A predicted label map (one channel, lossless) or rendered colour image of exactly ``size``."""
    if not os.path.lexists(path):
        raise SceneError(f"{path}: missing {what} for frame '{path.stem}'")
    got = check_label_header(path, what) if label else check_color_header(path)
    if got != tuple(size):
        raise SceneError(f"{path}: {what} is {got[0]}x{got[1]}, expected {size[0]}x{size[1]}")
    return read_label(path, what) if label else read_rgb(path)


def read_prediction(
    folder: str | Path, scene: Scene, frames: list[str]
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], dict[str, np.ndarray] | None]:
    """(semantics, instance, rgb or None) of ``frames`` from ``folder``, checked against ``scene``.

    ``instance/`` may be absent (then every pixel is instance 0); ``rgb/`` is read when the folder exists.
    """
    folder = Path(folder)
    num_classes = scene.class_set.num_classes
    has_instance, has_rgb = (folder / "instance").is_dir(), (folder / "rgb").is_dir()
    semantics, instance, rgb = {}, {}, {} if has_rgb else None
    for name in frames:
        path = folder / "semantics" / f"{name}.png"
        sem = check_class_ids(path, _read(path, scene.size, "predicted semantics"), num_classes)
        semantics[name] = sem
        if has_instance:
            instance[name] = _read(folder / "instance" / f"{name}.png", scene.size, "predicted instance")
        else:
            instance[name] = np.zeros_like(sem)
        if rgb is not None:
            image = _read(folder / "rgb" / f"{name}.png", scene.size, "rendered colour", label=False)
            rgb[name] = image.astype(np.float32) / 255.0
    return semantics, instance, rgb


def read_depth(folder: str | Path, scene: Scene, name: str) -> np.ndarray | None:
    """Frame ``name``'s rendered z-depth in metres from ``folder``/depth/ (uint16 millimetres, as
    `panolift render` writes it), or None when the folder has none."""
    path = Path(folder) / "depth" / f"{name}.png"
    if not os.path.lexists(path):
        return None
    return _read(path, scene.size, "rendered depth").astype(np.float32) / 1000.0
