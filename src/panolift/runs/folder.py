"""The files of a run folder besides checkpoints: run.json (what was trained on what) and, for an edited
run, edits.json. Every reader checks what it reads and names the file and the problem.

    RUN/run.json        format version, scene path (absolute) and fingerprint, config, class set,
                        normalisation, training image size; an edited run's copy adds "edited_from"
    RUN/edits.json      an edited run's edit list (:mod:`panolift.edit.edits`)
    RUN/checkpoints/    :mod:`panolift.runs.checkpoints`
    RUN/render/<split>/ :mod:`panolift.runs.rendering`
"""

from __future__ import annotations

import hashlib
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from panolift.config import LiftConfig
from panolift.edit import EDITS_FILE, EditList, edit_list_from_dict
from panolift.scene import ClassSet, Scene, SceneError, SceneNormalization
from panolift.scene.io import read_json, write_json

from .validate import config_from_dict, is_int, is_number

FORMAT_VERSION = 1
RUN_FILE = "run.json"
MAX_JSON_BYTES = 16 << 20


def read_json_file(path: Path, what: str) -> dict:
    """A JSON object from a regular file of at most 16 MiB (:func:`panolift.scene.io.read_json`: FIFOs and
    devices refused, size and nesting capped; errors name the file and the problem)."""
    if not os.path.lexists(path):
        raise SceneError(f"{path}: missing ({what})")
    data = read_json(path, what, max_bytes=MAX_JSON_BYTES)
    if not isinstance(data, dict):
        raise SceneError(f"{path}: expected a JSON object ({what}), got {type(data).__name__}")
    return data


def scene_fingerprint(scene: Scene) -> dict:
    """What identifies the scene a run was trained on: frame names, native image size, train split and a
    hash of the poses (so that a resumed run refuses another scene, or a changed one)."""
    poses = np.ascontiguousarray(np.round(np.asarray(scene.poses, dtype=np.float64), 6))
    return {
        "num_frames": len(scene.frame_names),
        "native_size": list(scene.native_size),
        "frames_sha1": hashlib.sha1("\n".join(scene.frame_names).encode()).hexdigest(),
        "train_sha1": hashlib.sha1("\n".join(scene.train_frames).encode()).hexdigest(),
        "poses_sha1": hashlib.sha1(poses.tobytes()).hexdigest(),
    }


@dataclass
class RunInfo:
    """The contents of run.json."""

    scene_path: Path
    config: LiftConfig
    class_set: ClassSet
    normalization: SceneNormalization
    image_size: tuple[int, int]  # (width, height) the run trains at
    fingerprint: dict
    edited_from: str | None = None

    def to_dict(self) -> dict:
        data = {
            "format_version": FORMAT_VERSION,
            "scene": str(Path(self.scene_path).resolve()),
            "scene_fingerprint": self.fingerprint,
            "config": self.config.to_dict(),
            "class_set": {"names": list(self.class_set.names), "thing_ids": list(self.class_set.thing_ids)},
            "normalization": self.normalization.to_dict(),
            "image_size": list(self.image_size),
        }
        if self.edited_from is not None:
            data["edited_from"] = self.edited_from
        return data


def write_run_info(run_dir: Path, info: RunInfo) -> None:
    try:
        write_json(Path(run_dir) / RUN_FILE, info.to_dict())
    except OSError as exc:
        raise SceneError(f"{Path(run_dir) / RUN_FILE}: cannot write ({exc.strerror or exc})") from None


FINGERPRINT_KEYS = {
    "num_frames": int,
    "native_size": list,
    "frames_sha1": str,
    "train_sha1": str,
    "poses_sha1": str,
}


def _class_set(value) -> ClassSet:
    if not isinstance(value, dict):
        raise ValueError(f"class_set is {type(value).__name__}, not an object")
    names, things = value.get("names"), value.get("thing_ids")
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise ValueError("class_set.names is not a list of strings")
    if not 2 <= len(names) <= 4096:
        raise ValueError(f"{len(names)} classes (2 to 4096, void included)")
    if not isinstance(things, list) or not all(is_int(k) and 0 < k < len(names) for k in things):
        raise ValueError(f"class_set.thing_ids {things!r} are not class indices in 1..{len(names) - 1}")
    if len(set(things)) != len(things):
        raise ValueError(f"class_set.thing_ids {things!r} repeat a class")
    return ClassSet(names=tuple(names), thing_ids=tuple(things))


def is_matrix(value, rows: int, cols: int) -> bool:
    """Whether ``value`` is a list of ``rows`` lists of ``cols`` finite numbers."""
    return (
        isinstance(value, list)
        and len(value) == rows
        and all(
            isinstance(row, list) and len(row) == cols and all(is_number(v) and math.isfinite(v) for v in row)
            for row in value
        )
    )


def _normalization(value) -> SceneNormalization:
    if not isinstance(value, dict):
        raise ValueError(f"normalization is {type(value).__name__}, not an object")
    center, scale = value.get("center"), value.get("scale")
    if not (
        isinstance(center, list)
        and len(center) == 3
        and all(is_number(v) and math.isfinite(v) for v in center)
    ):
        raise ValueError(f"normalization center {center!r} is not a finite 3-vector")
    if not (is_number(scale) and math.isfinite(scale) and scale > 0):
        raise ValueError(f"normalization scale {scale!r} is not a positive number")
    rotation = value.get("rotation")
    if rotation is not None:
        r = np.asarray(rotation, dtype=np.float64) if is_matrix(rotation, 3, 3) else None
        if r is None or not np.allclose(r @ r.T, np.eye(3), atol=1e-6) or np.linalg.det(r) < 0:
            raise ValueError(f"normalization rotation {rotation!r} is not a 3x3 rotation matrix")
        rotation = r
    return SceneNormalization(
        center=np.asarray(center, dtype=np.float64), scale=float(scale), rotation=rotation
    )


def _fingerprint(value) -> dict:
    if value is None or value == {}:
        return {}  # written by an older panolift, or without a scene to fingerprint
    if not isinstance(value, dict) or not all(
        isinstance(value.get(k), t) for k, t in FINGERPRINT_KEYS.items()
    ):
        raise ValueError(f"scene_fingerprint is not an object with {', '.join(FINGERPRINT_KEYS)}")
    return dict(value)


def _scene_path(value) -> Path:
    if not isinstance(value, str) or not value or "\0" in value:
        raise ValueError(f"scene {value!r} is not a path")
    return Path(value)


def read_run_info(run_dir: str | Path) -> RunInfo:
    """run.json of a run folder, checked field by field (types, ranges, the configuration's values)."""
    run_dir = Path(run_dir)
    path = run_dir / RUN_FILE
    if not run_dir.is_dir():
        state = "not a folder" if os.path.lexists(run_dir) else "no such folder"
        raise SceneError(f"{run_dir}: not a run folder ({state})")
    if not os.path.lexists(path):
        raise SceneError(f"{path}: not a run folder (no run.json; train one with `panolift train`)")
    data = read_json_file(path, "run description")
    version = data.get("format_version", 0)
    if not is_int(version) or version > FORMAT_VERSION:
        raise SceneError(f"{path}: format version {version!r} is not one this panolift reads")
    missing = [k for k in ("scene", "config", "class_set", "normalization", "image_size") if k not in data]
    if missing:
        raise SceneError(f"{path}: malformed run description (no '{missing[0]}')")
    try:
        class_set = _class_set(data["class_set"])
        normalization = _normalization(data["normalization"])
        size = data["image_size"]
        if not (
            isinstance(size, list) and len(size) == 2 and all(is_int(v) and 0 < v <= 65536 for v in size)
        ):
            raise ValueError(f"image_size {size!r} is not [width, height]")
        edited_from = data.get("edited_from")
        if edited_from is not None and not isinstance(edited_from, str):
            raise ValueError(f"edited_from {edited_from!r} is not a path")
        scene_path = _scene_path(data["scene"])
        fingerprint = _fingerprint(data.get("scene_fingerprint"))
    except ValueError as exc:
        raise SceneError(f"{path}: malformed run description ({exc})") from None
    config = config_from_dict(data["config"], path)
    return RunInfo(
        scene_path=scene_path, config=config, class_set=class_set, normalization=normalization,
        image_size=(size[0], size[1]), fingerprint=fingerprint, edited_from=edited_from,
    )  # fmt: skip


def read_edit_list(run_dir: str | Path) -> EditList:
    """RUN/edits.json, checked (:func:`panolift.edit.edit_list_from_dict`)."""
    path = Path(run_dir) / EDITS_FILE
    return edit_list_from_dict(read_json_file(path, "edit list"), path)


def write_edit_list(run_dir: str | Path, edit_list: EditList) -> None:
    try:
        write_json(Path(run_dir) / EDITS_FILE, edit_list.to_dict())
    except OSError as exc:
        raise SceneError(f"{Path(run_dir) / EDITS_FILE}: cannot write ({exc.strerror or exc})") from None


def is_edited_run(run_dir: str | Path) -> bool:
    """An edits.json is there (whatever it is: a broken one is reported when it is read)."""
    return os.path.lexists(Path(run_dir) / EDITS_FILE)
