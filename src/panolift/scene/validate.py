"""Per-frame checks of a scene folder, run before any work starts."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .io import SceneError, image_size

if TYPE_CHECKING:
    from .scene import Scene

LABEL_FOLDERS = (
    "m2f_semantics",
    "m2f_instance",
    "m2f_segments",
    "m2f_notta_semantics",
    "m2f_notta_instance",
    "rs_semantics",
    "rs_instance",
    "depth",
)


def find_problems(scene: Scene) -> list[str]:
    """Every problem found in the scene's per-frame files, each as 'FILE: problem'."""
    problems: list[str] = []
    expected = scene.native_size
    for name in scene.frame_names:
        try:
            size = image_size(scene.color_path(name))
        except SceneError as exc:
            problems.append(str(exc))
            continue
        if size != expected:
            problems.append(
                f"{scene.color_path(name)}: size {size[0]}x{size[1]} differs from the scene's "
                f"{expected[0]}x{expected[1]}"
            )
        for folder in LABEL_FOLDERS:
            if not (scene.root / folder).is_dir():
                continue
            path = scene.root / folder / f"{name}.png"
            if not path.exists():
                if folder in ("m2f_semantics", "m2f_instance"):
                    problems.append(f"{path}: missing (frame '{name}' has no machine label)")
                continue
            try:
                lsize = image_size(path)
            except SceneError as exc:
                problems.append(str(exc))
                continue
            if lsize != size:
                problems.append(
                    f"{path}: label size {lsize[0]}x{lsize[1]} differs from colour size {size[0]}x{size[1]}"
                )
        problems.extend(_check_probabilities(scene, name))
    if scene.has_machine_labels:
        for name in scene.frame_names[: min(len(scene.frame_names), 3)]:
            try:
                scene.machine_labels(name)
            except SceneError as exc:
                problems.append(str(exc))
    return problems


def _check_probabilities(scene: Scene, name: str) -> list[str]:
    path = scene.root / "m2f_probabilities" / f"{name}.npz"
    if not path.exists():
        return []
    try:
        with np.load(path, allow_pickle=False) as npz:
            if "probability" not in npz or "confidence" not in npz:
                return [f"{path}: needs arrays 'probability' and 'confidence', has {sorted(npz.files)}"]
            shape = npz["probability"].shape
    except Exception as exc:
        return [f"{path}: cannot read ({exc})"]
    if len(shape) != 3 or shape[-1] != scene.class_set.num_classes:
        return [f"{path}: 'probability' must be (H, W, {scene.class_set.num_classes}), got {shape}"]
    return []
