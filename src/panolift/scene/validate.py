"""Per-frame checks of a scene folder, run before any work starts.

``validate_scene(scene)`` reads headers only: every frame's colour image, labels, masks and probability
archives exist, are regular files, decode as the right kind of image (mode, lossless labels), have the
colour images' size, and hold arrays of the right dtype and shape. ``deep=True`` also decodes every file
and checks values: truncated or broken images, class ids within the class set, probabilities that are
distributions, confidences in [0, 1]. Training calls the deep check on its training frames.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING

from .checks import check_class_ids, check_probability_arrays, check_probability_headers
from .io import (
    SceneError,
    check_color_header,
    check_label_header,
    read_label,
    read_npz_arrays,
    read_npz_headers,
    read_rgb,
)

if TYPE_CHECKING:
    from pathlib import Path

    from .scene import Scene

# folder -> (what, required for every frame when the folder exists, holds class ids)
LABEL_FOLDERS = {
    "m2f_semantics": ("machine semantics", True, True),
    "m2f_instance": ("machine instance ids", True, False),
    "m2f_segments": ("machine segments", False, False),
    "m2f_notta_semantics": ("machine semantics without TTA", True, True),
    "m2f_notta_instance": ("machine instance ids without TTA", True, False),
    "rs_semantics": ("ground-truth semantics", False, True),
    "rs_instance": ("ground-truth instance ids", False, False),
    "depth": ("depth image", False, False),
}
PAIRED_FOLDERS = (("m2f_semantics", "m2f_instance"), ("m2f_notta_semantics", "m2f_notta_instance"))


class SceneProblems(SceneError):
    """Every problem found in a scene; ``problems`` lists them ('FILE: problem'), the message is one line."""

    def __init__(self, root: Path, problems: list[str]):
        self.root, self.problems = root, list(problems)
        if len(problems) == 1:
            message = problems[0]
        else:
            message = f"{problems[0]} (and {len(problems) - 1} more problem(s) in {root}; `panolift info` lists them)"
        super().__init__(message)


def validate_scene(
    scene: Scene,
    deep: bool = False,
    frames: list[str] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> None:
    """Raise SceneProblems listing every problem in the files of ``frames`` (default: all frames)."""
    problems = find_problems(scene, deep=deep, frames=frames, progress=progress)
    if problems:
        raise SceneProblems(scene.root, problems)


def find_problems(
    scene: Scene,
    deep: bool = False,
    frames: list[str] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> list[str]:
    """Every problem found in the scene's per-frame files, each as 'FILE: problem'."""
    problems = _folder_problems(scene)
    names = scene.frame_names if frames is None else list(frames)
    known = set(scene.frame_names)
    for i, name in enumerate(names):
        if name not in known:
            problems.append(f"{scene.root / 'color'}: no colour image for frame '{name}'")
        else:
            problems.extend(_frame_problems(scene, name, deep))
        if progress is not None:
            progress(i + 1, len(names))
    return problems


def _folder_problems(scene: Scene) -> list[str]:
    problems = []
    try:
        scene.check_camera_layout()
    except SceneError as exc:
        problems.append(str(exc))
    for pair in PAIRED_FOLDERS:
        present = [(scene.root / f).is_dir() for f in pair]
        if any(present) and not all(present):
            missing = pair[present.index(False)]
            problems.append(
                f"{scene.root / missing}: missing folder (it goes with {pair[present.index(True)]}/)"
            )
    for folder in list(LABEL_FOLDERS) + ["m2f_probabilities", "invalid"]:
        path = scene.root / folder
        if os.path.lexists(path) and not path.is_dir():
            problems.append(f"{path}: expected a folder")
    return problems


def _frame_problems(scene: Scene, name: str, deep: bool) -> list[str]:
    problems: list[str] = []

    def attempt(check: Callable[[], object]) -> None:
        try:
            check()
        except SceneError as exc:
            problems.append(str(exc))

    color = scene.color_path(name)
    attempt(
        lambda: _check_size(
            color, check_color_header(color), scene.native_size, "colour image", "the scene's"
        )
    )
    if deep:
        attempt(lambda: read_rgb(color))
    num_classes = scene.class_set.num_classes
    for folder, (what, required, has_classes) in LABEL_FOLDERS.items():
        if not (scene.root / folder).is_dir():
            continue
        path = scene.root / folder / f"{name}.png"
        if not os.path.lexists(path):
            if required:
                problems.append(f"{path}: missing ({what} of frame '{name}')")
            continue
        attempt(lambda path=path, what=what, has_classes=has_classes: _check_label(
            path, what, scene.native_size, deep, num_classes if has_classes else 0
        ))  # fmt: skip
    for suffix in (".jpg", ".png"):
        path = scene.root / "invalid" / f"{name}{suffix}"
        if os.path.lexists(path):
            attempt(
                lambda path=path: _check_label(path, "invalid-pixel mask", scene.native_size, deep, 0, True)
            )
    path = scene.root / "m2f_probabilities" / f"{name}.npz"
    if os.path.lexists(path):
        attempt(lambda: _check_probabilities(path, scene.native_size, num_classes, deep))
    return problems


def _check_size(path: Path, size: tuple[int, int], expected: tuple[int, int], what: str, whose: str) -> None:
    if tuple(size) != tuple(expected):
        raise SceneError(
            f"{path}: {what} size {size[0]}x{size[1]} differs from {whose} {expected[0]}x{expected[1]}"
        )


def _check_label(
    path: Path, what: str, size: tuple[int, int], deep: bool, num_classes: int, lossy_ok: bool = False
) -> None:
    _check_size(path, check_label_header(path, what, lossy_ok), size, "label", "colour size")
    if deep:
        label = read_label(path, what, lossy_ok)
        if num_classes:
            check_class_ids(path, label, num_classes)


def _check_probabilities(path: Path, native: tuple[int, int], num_classes: int, deep: bool) -> None:
    check_probability_headers(path, read_npz_headers(path, "probabilities"), native, num_classes)
    if deep:
        arrays = read_npz_arrays(path, ["probability", "confidence", "confidence_notta"], "probabilities")
        check_probability_arrays(path, arrays, native, num_classes)
