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
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from panolift.config import LiftConfig
from panolift.edit import EDITS_FILE, EditList, edit_list_from_dict
from panolift.scene import ClassSet, Scene, SceneError, SceneNormalization
from panolift.scene.io import read_json, write_json

FORMAT_VERSION = 1
RUN_FILE = "run.json"
MAX_JSON_BYTES = 16 << 20


def read_json_file(path: Path, what: str) -> dict:
    """A JSON object from a regular file of at most 16 MiB (:func:`panolift.scene.io.read_json`: FIFOs and
    devices refused, size and nesting capped; errors name the file and the problem)."""
    if not path.exists():
        raise SceneError(f"{path}: missing ({what})")
    data = read_json(path, what, max_bytes=MAX_JSON_BYTES)
    if not isinstance(data, dict):
        raise SceneError(f"{path}: a {what} is a JSON object, got {type(data).__name__}")
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
    write_json(Path(run_dir) / RUN_FILE, info.to_dict())


def read_run_info(run_dir: str | Path) -> RunInfo:
    """run.json of a run folder, checked field by field."""
    path = Path(run_dir) / RUN_FILE
    if not Path(run_dir).is_dir():
        raise SceneError(f"{run_dir}: not a run folder (no such folder)")
    if not path.exists():
        raise SceneError(f"{path}: not a run folder (no run.json; train one with `panolift train`)")
    data = read_json_file(path, "run description")
    version = data.get("format_version", 0)
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise SceneError(f"{path}: format version {version!r} is not one this panolift reads")
    try:
        classes = data["class_set"]
        class_set = ClassSet(
            names=tuple(str(n) for n in classes["names"]), thing_ids=tuple(classes["thing_ids"])
        )
        if not 2 <= class_set.num_classes <= 4096 or not all(
            isinstance(k, int) and 0 < k < class_set.num_classes for k in class_set.thing_ids
        ):
            raise ValueError(f"bad class set ({class_set.num_classes} classes, things {class_set.thing_ids})")
        norm = data["normalization"]
        normalization = SceneNormalization(
            center=np.asarray(norm["center"], dtype=np.float64), scale=float(norm["scale"])
        )
        if normalization.center.shape != (3,) or not np.all(np.isfinite(normalization.center)):
            raise ValueError(f"normalization center {norm['center']!r} is not a finite 3-vector")
        if not (np.isfinite(normalization.scale) and normalization.scale > 0):
            raise ValueError(f"normalization scale {normalization.scale} is not positive")
        width, height = (int(v) for v in data["image_size"])
        if not (0 < width <= 65536 and 0 < height <= 65536):
            raise ValueError(f"image_size {data['image_size']!r}")
        config = LiftConfig.from_dict(data["config"])
        return RunInfo(
            scene_path=Path(str(data["scene"])), config=config, class_set=class_set,
            normalization=normalization, image_size=(width, height),
            fingerprint=dict(data.get("scene_fingerprint") or {}), edited_from=data.get("edited_from"),
        )  # fmt: skip
    except (KeyError, TypeError, ValueError) as exc:
        raise SceneError(f"{path}: malformed run description ({type(exc).__name__}: {exc})") from exc


def read_edit_list(run_dir: str | Path) -> EditList:
    """RUN/edits.json, checked (:func:`panolift.edit.edit_list_from_dict`)."""
    path = Path(run_dir) / EDITS_FILE
    return edit_list_from_dict(read_json_file(path, "edit list"), path)


def write_edit_list(run_dir: str | Path, edit_list: EditList) -> None:
    write_json(Path(run_dir) / EDITS_FILE, edit_list.to_dict())


def is_edited_run(run_dir: str | Path) -> bool:
    return (Path(run_dir) / EDITS_FILE).exists()
