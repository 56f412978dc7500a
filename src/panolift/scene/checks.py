"""Checks of a scene's structure: poses, the camera layout, intrinsics, splits.json, segmentation data.

Each function takes what was read (and the file it came from) and either returns it cleaned up or raises
a SceneError whose message names the file and the problem. They are run when a Scene is constructed, so
nothing downstream (scene normalisation, allocating per-class arrays) ever sees such input.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .io import SceneError
from .safe_pickle import check_data_size

ROTATION_TOLERANCE = 1e-3  # |R^T R - I| and |det R - 1|, for poses written with a few decimals
MAX_TRANSLATION = 1e9  # world units; beyond this float32 arithmetic downstream is meaningless
OUTLIER_FACTOR = 10.0  # a camera this many times the median distance from the others' centre is an outlier
MIN_CLASSES, MAX_CLASSES = 2, 1000


def check_pose(path: Path, pose: np.ndarray) -> np.ndarray:
    """A 4x4 camera-to-world: finite (read_matrix), rotation orthonormal with det +1, last row 0 0 0 1."""
    if np.abs(pose[3] - (0.0, 0.0, 0.0, 1.0)).max() > 1e-6:
        row = " ".join(f"{v:g}" for v in pose[3])
        raise SceneError(f"{path}: last row of the pose must be 0 0 0 1, got {row} (a projective matrix)")
    rotation = pose[:3, :3]
    error = float(np.abs(rotation.T @ rotation - np.eye(3)).max())
    if error > ROTATION_TOLERANCE:
        raise SceneError(
            f"{path}: pose rotation is not orthonormal (max |R^T R - I| = {error:.3g}; scaled or sheared "
            "camera-to-world matrices are not supported)"
        )
    det = float(np.linalg.det(rotation))
    if det < 0:
        raise SceneError(f"{path}: pose rotation has determinant {det:.3g} (a reflection, not a rotation)")
    if abs(np.abs(pose[:3, 3]).max()) > MAX_TRANSLATION:
        raise SceneError(f"{path}: pose translation {pose[:3, 3].tolist()} is implausibly large")
    return pose


def check_camera_positions(names: list[str], paths: list[Path], poses: np.ndarray) -> None:
    """Cameras must not all sit at one point, and no camera may lie far from the rest.

    With c_i the camera centres, m the coordinate-wise median and d_i = |c_i - m|, a camera is an outlier
    when d_i > OUTLIER_FACTOR * median_j d_j (the mean when more than half the cameras share one point).
    One such camera would otherwise set the scene's bounds and squash everything else into a few voxels.
    """
    if len(names) < 2:
        return
    centres = poses[:, :3, 3]
    middle = np.median(centres, axis=0)
    dist = np.linalg.norm(centres - middle, axis=-1)
    extent = float(np.abs(centres).max())
    if float(dist.max()) <= 1e-9 * max(1.0, extent):
        raise SceneError(
            f"{paths[0].parent}: all {len(names)} cameras are at one point "
            f"({', '.join(f'{v:g}' for v in centres[0])}); lifting needs views from different positions"
        )
    if len(names) < 4:
        return
    scale = float(np.median(dist))
    if scale <= 1e-9 * max(1.0, extent):
        scale = float(dist.mean())
    far = np.flatnonzero(dist > OUTLIER_FACTOR * scale)
    if far.size:
        listed = ", ".join(f"'{names[i]}' ({dist[i]:.3g})" for i in far[:5])
        more = f" and {far.size - 5} more" if far.size > 5 else ""
        raise SceneError(
            f"{paths[far[0]]}: camera of frame {listed}{more} lies far from the others (median distance "
            f"to their centre {scale:.3g}); fix or remove the pose(s), they would set the scene bounds"
        )


def check_intrinsics(path: Path, K: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Pinhole K (3x3) for images of ``size`` (W, H): positive focal lengths, principal point within a
    generous margin of the image, bottom row 0 0 1."""
    fx, fy, cx, cy = K[0, 0], K[1, 1], K[0, 2], K[1, 2]
    if fx <= 0 or fy <= 0:
        raise SceneError(f"{path}: focal lengths must be positive, got fx={fx:g}, fy={fy:g}")
    if np.abs(K[2] - (0.0, 0.0, 1.0)).max() > 1e-6 or abs(K[1, 0]) > 1e-6:
        rows = "; ".join(" ".join(f"{v:g}" for v in row) for row in K)
        raise SceneError(f"{path}: not a pinhole matrix (expected [fx s cx; 0 fy cy; 0 0 1], got {rows})")
    w, h = size
    if not (-w <= cx <= 2 * w and -h <= cy <= 2 * h):
        raise SceneError(
            f"{path}: principal point ({cx:g}, {cy:g}) is far outside the {w}x{h} colour images "
            "(intrinsics for another resolution?)"
        )
    return K


def _frame_name(value, path: Path, key: str) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise SceneError(f"{path}: split '{key}' must list frame names (strings), got {value!r}")


def parse_splits(path: Path, raw, frame_names: list[str]) -> dict[str, list[str]]:
    """{"train": [names], "test": [names]} ("val" may stand for "test"): lists of known, unique names."""
    if not isinstance(raw, dict):
        raise SceneError(
            f"{path}: expected an object with 'train' and 'test' lists, got {type(raw).__name__}"
        )
    check_data_size(raw, str(path))
    if "test" not in raw and "val" in raw:
        raw = {**raw, "test": raw["val"]}
    if "train" not in raw or "test" not in raw:
        raise SceneError(f"{path}: needs 'train' and 'test' (or 'val') lists")
    known = set(frame_names)
    splits = {}
    for key in ("train", "test"):
        values = raw[key]
        if not isinstance(values, list):
            raise SceneError(
                f"{path}: split '{key}' must be a list of frame names, got {type(values).__name__}"
            )
        names = [_frame_name(v, path, key) for v in values]
        missing = [n for n in names if n not in known]
        if missing:
            raise SceneError(f"{path}: split '{key}' names frames with no colour image: {missing[:5]}")
        if len(set(names)) != len(names):
            seen: set[str] = set()
            twice = [n for n in names if n in seen or seen.add(n)]
            raise SceneError(f"{path}: split '{key}' lists frames more than once: {sorted(set(twice))[:5]}")
        splits[key] = names
    if not splits["train"]:
        raise SceneError(f"{path}: the 'train' split is empty")
    return splits


def _as_int(value, source: Path, key: str, what: str = "must be an integer") -> int:
    if isinstance(value, np.ndarray) and value.shape == ():
        value = value.item()
    if isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_)):
        return int(value)
    if isinstance(value, (float, np.floating)) and np.isfinite(value) and float(value).is_integer():
        return int(value)
    raise SceneError(f"{source}: '{key}' {what}, got {value!r}"[:300])


def _int_list(value, source: Path, key: str, low: int, high: int) -> list[int]:
    if isinstance(value, np.ndarray):
        if value.ndim > 1 or value.dtype.hasobject or value.dtype.kind not in "iuf":
            raise SceneError(
                f"{source}: '{key}' must be a list of class ids, got an array {value.dtype} {value.shape}"
            )
        value = value.tolist()
    if isinstance(value, (set, frozenset)):
        value = sorted(value, key=lambda v: (str(type(v)), v))
    if not isinstance(value, (list, tuple)):
        raise SceneError(f"{source}: '{key}' must be a list of class ids, got {type(value).__name__}")
    ids = [_as_int(v, source, key, "must list integer class ids") for v in value]
    bad = [k for k in ids if not low <= k <= high]
    if bad:
        raise SceneError(f"{source}: '{key}' has class ids outside {low}..{high}: {bad[:5]}")
    if len(set(ids)) != len(ids):
        raise SceneError(f"{source}: '{key}' lists a class id more than once")
    return ids


def parse_segmentation_data(source: Path, data) -> dict:
    """The segmentation data dict with num_semantic_classes (2..1000) and fg_classes (thing ids in
    1..num_classes-1) checked before anything is sized by them; bg_classes and class_names when present."""
    if not isinstance(data, dict):
        raise SceneError(f"{source}: expected a dict, got {type(data).__name__}")
    check_data_size(data, str(source))
    for key in ("num_semantic_classes", "fg_classes"):
        if key not in data:
            raise SceneError(f"{source}: missing key '{key}'")
    data = dict(data)
    n = _as_int(data["num_semantic_classes"], source, "num_semantic_classes")
    if not MIN_CLASSES <= n <= MAX_CLASSES:
        raise SceneError(
            f"{source}: num_semantic_classes is {n}; expected {MIN_CLASSES}..{MAX_CLASSES} (void included)"
        )
    data["num_semantic_classes"] = n
    data["fg_classes"] = _int_list(data["fg_classes"], source, "fg_classes", 1, n - 1)
    if data.get("bg_classes") is not None:
        data["bg_classes"] = _int_list(data["bg_classes"], source, "bg_classes", 0, n - 1)
    names = data.get("class_names")
    if names is not None:
        if not isinstance(names, (list, tuple)) or not all(isinstance(x, str) for x in names):
            raise SceneError(f"{source}: 'class_names' must be a list of strings")
        if len(names) != n:
            raise SceneError(f"{source}: 'class_names' has {len(names)} names for {n} classes")
    return data


# ----------------------------------------------------------------------------------- per-frame values
RELEASED_PROBABILITY_SIZE = (256, 256)
PROBABILITY_SUM_TOLERANCE = 0.01  # float16 storage and bilinear/area resampling keep sums within this
CONFIDENCE_TOLERANCE = 1e-3


def check_class_ids(path: Path, semantics: np.ndarray, num_classes: int) -> np.ndarray:
    """Class ids of a semantic label map must lie in 0..num_classes-1."""
    top = int(semantics.max(initial=0))
    if top >= num_classes:
        raise SceneError(
            f"{path}: class id {top} out of range; the scene declares {num_classes} classes "
            f"(0..{num_classes - 1})"
        )
    return semantics


def probability_size_ok(size: tuple[int, int], native: tuple[int, int]) -> bool:
    """(w, h) of stored probabilities: the colour images' size, the released data's 256x256, or a
    downscaled copy keeping the aspect ratio (what `panolift segment` writes: long side at most 256)."""
    (w, h), (nw, nh) = size, native
    if (w, h) == tuple(native) or (w, h) == RELEASED_PROBABILITY_SIZE:
        return True
    return 1 <= w <= nw and 1 <= h <= nh and abs(w * nh - h * nw) <= max(nw, nh)


def _check_probability_shapes(path: Path, shapes: dict, native: tuple[int, int], num_classes: int) -> None:
    if "probability" not in shapes or "confidence" not in shapes:
        raise SceneError(f"{path}: needs arrays 'probability' and 'confidence', has {sorted(shapes)}")
    shape = shapes["probability"]
    if len(shape) != 3 or shape[-1] != num_classes:
        raise SceneError(f"{path}: 'probability' must be (H, W, {num_classes}), got {tuple(shape)}")
    h, w = shape[:2]
    if not probability_size_ok((w, h), native):
        raise SceneError(
            f"{path}: probabilities are {w}x{h}; expected the colour size {native[0]}x{native[1]}, "
            "256x256, or a downscaled copy with the same aspect ratio"
        )
    for name in ("confidence", "confidence_notta"):
        if name in shapes and tuple(shapes[name]) != (h, w):
            raise SceneError(
                f"{path}: '{name}' must be ({h}, {w}) like 'probability', got {tuple(shapes[name])}"
            )


def check_probability_headers(
    path: Path,
    headers: dict[str, tuple[tuple[int, ...], np.dtype]],
    native: tuple[int, int],
    num_classes: int,
) -> None:
    """Keys, dtypes and shapes of an m2f_probabilities .npz, from its headers (nothing decoded)."""
    _check_probability_shapes(path, {k: s for k, (s, _) in headers.items()}, native, num_classes)
    for name in ("probability", "confidence", "confidence_notta"):
        if name in headers and headers[name][1].kind != "f":
            raise SceneError(f"{path}: '{name}' must hold floats, got dtype {headers[name][1]}")


def check_probability_arrays(
    path: Path, arrays: dict[str, np.ndarray], native: tuple[int, int], num_classes: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(probability, confidence, confidence_notta) as float32 after checking shapes and values:
    finite; probabilities non-negative and summing to 1 per pixel (or all 0: a void pixel); confidences
    in [0, 1]. ``confidence_notta`` defaults to ``confidence``."""
    check_probability_headers(path, {k: (a.shape, a.dtype) for k, a in arrays.items()}, native, num_classes)
    probability = arrays["probability"].astype(np.float32)
    confidence = arrays["confidence"].astype(np.float32)
    confidence_notta = arrays.get("confidence_notta", arrays["confidence"]).astype(np.float32)
    for name, array in (("probability", probability), ("confidence", confidence)):
        if not np.all(np.isfinite(array)):
            raise SceneError(f"{path}: '{name}' has non-finite values (NaN or inf)")
    if not np.all(np.isfinite(confidence_notta)):
        raise SceneError(f"{path}: 'confidence_notta' has non-finite values (NaN or inf)")
    low = float(probability.min(initial=0.0))
    if low < -CONFIDENCE_TOLERANCE:
        raise SceneError(f"{path}: 'probability' has negative values (min {low:.3g})")
    sums = probability.sum(axis=-1)
    bad = (np.abs(sums - 1.0) > PROBABILITY_SUM_TOLERANCE) & (sums > PROBABILITY_SUM_TOLERANCE)
    if bad.any():
        y, x = np.argwhere(bad)[0]
        raise SceneError(
            f"{path}: 'probability' does not sum to 1 over classes at {int(bad.sum())} pixel(s) "
            f"(e.g. {float(sums[y, x]):.3g} at x={x}, y={y})"
        )
    for name, array in (("confidence", confidence), ("confidence_notta", confidence_notta)):
        lo, hi = float(array.min(initial=0.0)), float(array.max(initial=0.0))
        if lo < -CONFIDENCE_TOLERANCE or hi > 1.0 + CONFIDENCE_TOLERANCE:
            raise SceneError(f"{path}: '{name}' must lie in [0, 1], got {lo:.3g}..{hi:.3g}")
    return probability, confidence, confidence_notta
