"""Reading a scene folder (the layout of the data released with Panoptic Lifting), lazily.

Nothing but file names, poses and intrinsics is read up front: images and labels are decoded per frame on
request, so a 900-frame 512x512 scene costs a few megabytes until its frames are used.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .cameras import SceneNormalization, compute_scene_normalization, scale_intrinsics
from .checks import (
    check_camera_positions,
    check_class_ids,
    check_intrinsics,
    check_pose,
    check_probability_arrays,
    parse_segmentation_data,
    parse_splits,
)
from .classes import SCANNET21, ClassSet
from .io import (
    SceneError,
    check_color_header,
    check_regular_file,
    read_json,
    read_label,
    read_matrix,
    read_npz_arrays,
    read_rgb,
)
from .safe_pickle import load_restricted_pickle
from .validate import validate_scene

log = logging.getLogger(__name__)

COLOR_SUFFIXES = (".jpg", ".jpeg", ".png")


@dataclass
class MachineLabels:
    """2D machine labels of one frame at the working resolution."""

    semantics: np.ndarray  # (H, W) int64 class index, 0 = void
    instance: np.ndarray  # (H, W) int64 2D instance id (not consistent across frames), 0 = stuff/void
    segments: np.ndarray  # (H, W) int64 segment id; 0 = no segment (void)
    probability: np.ndarray  # (H, W, num_classes) float32 class distribution
    confidence: np.ndarray  # (H, W) float32, with test-time augmentation
    confidence_notta: np.ndarray  # (H, W) float32, without test-time augmentation


@dataclass
class GroundTruth:
    semantics: np.ndarray  # (H, W) int64 class index, 0 = void
    instance: np.ndarray  # (H, W) int64 scene-consistent instance id, 0 = stuff/void


def sort_frame_names(names: list[str]) -> list[str]:
    """Numeric order when every name is an integer, else lexical."""
    if names and all(n.isdigit() for n in names):
        return sorted(names, key=int)
    return sorted(names)


def segments_from_labels(semantics: np.ndarray, instance: np.ndarray) -> np.ndarray:
    """One segment per thing instance and per stuff class: ids 1.. for each distinct (class, instance)."""
    key = semantics.astype(np.int64) * (1 << 20) + instance.astype(np.int64)
    _, inverse = np.unique(key, return_inverse=True)
    seg = inverse.reshape(semantics.shape).astype(np.int64) + 1
    seg[semantics == 0] = 0
    return seg


def resize_nearest(label: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Nearest-neighbour resize of an (H,W) label map to (W',H') ``size``."""
    h, w = label.shape
    if (w, h) == tuple(size):
        return label
    ys = np.minimum(((np.arange(size[1]) + 0.5) * h / size[1]).astype(np.int64), h - 1)
    xs = np.minimum(((np.arange(size[0]) + 0.5) * w / size[0]).astype(np.int64), w - 1)
    return label[ys[:, None], xs[None, :]]


def resize_bilinear(array: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bilinear resize of (H,W) or (H,W,C) float arrays to (W',H') ``size``."""
    h, w = array.shape[:2]
    if (w, h) == tuple(size):
        return array.astype(np.float32)
    t = torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))
    t = t[None, None] if t.ndim == 2 else t.permute(2, 0, 1)[None]
    out = F.interpolate(t, size=(size[1], size[0]), mode="bilinear", align_corners=False)[0]
    out = out[0] if array.ndim == 2 else out.permute(1, 2, 0)
    return out.numpy()


def _list_color_files(color_dir: Path) -> dict[str, Path]:
    """{frame name: colour image}; an entry that is not a regular file, or two images of one frame
    (0.jpg and 0.png), is an error."""
    files: dict[str, Path] = {}
    for p in sorted(color_dir.iterdir()):
        if p.suffix.lower() not in COLOR_SUFFIXES or p.name.startswith("."):
            continue
        check_regular_file(p, "colour image")
        if p.stem in files:
            raise SceneError(f"{p}: a second colour image for frame '{p.stem}' (also {files[p.stem].name})")
        files[p.stem] = p
    if not files:
        raise SceneError(f"{color_dir}: no .jpg or .png frames")
    return files


class Scene:
    """A scene folder. ``size`` = working (width, height); defaults to the colour images' size.

    Construction checks the folder's structure (frames, poses and the camera layout, intrinsics, splits,
    segmentation data); :meth:`validate` also checks every frame's files (headers and sizes; with
    ``deep=True`` it decodes them and checks their values) and raises one SceneError listing every problem,
    each with its file. Readers check what they read (sizes, class ids, probability values), so that bad
    values are reported, never silently resized or clipped.
    """

    def __init__(self, root: str | Path, size: tuple[int, int] | None = None):
        self.root = Path(root)
        if not self.root.is_dir():
            what = "is not a folder" if os.path.lexists(self.root) else "does not exist"
            raise SceneError(f"{self.root}: scene folder {what}")
        color_dir = self.root / "color"
        if not color_dir.is_dir():
            raise SceneError(f"{color_dir}: missing colour folder")
        self._color_files = _list_color_files(color_dir)
        self.frame_names: list[str] = sort_frame_names(list(self._color_files))
        self.native_size: tuple[int, int] = check_color_header(self._color_files[self.frame_names[0]])
        self.size: tuple[int, int] = tuple(size) if size is not None else self.native_size
        self._poses = self._read_poses()
        self._K_native = self._read_intrinsics()
        self.splits = self._read_splits()
        self.segmentation_data = self._read_segmentation_data()
        self.class_set: ClassSet = (
            ClassSet.from_segmentation_data(self.segmentation_data) if self.segmentation_data else SCANNET21
        )

    # ----------------------------------------------------------------- structure
    def _read_poses(self) -> np.ndarray:
        paths = [self.root / "pose" / f"{name}.txt" for name in self.frame_names]
        for name, path in zip(self.frame_names, paths, strict=True):
            if not os.path.lexists(path):
                raise SceneError(f"{path}: missing pose for frame '{name}'")
        return np.stack([check_pose(path, read_matrix(path)) for path in paths])

    def check_camera_layout(self) -> None:
        """Cameras not all at one point, none far from the rest (named in the error): what the scene
        normalisation needs. Part of :meth:`validate`, and run by :meth:`normalization`."""
        paths = [self.root / "pose" / f"{name}.txt" for name in self.frame_names]
        check_camera_positions(self.frame_names, paths, self._poses)

    def _read_intrinsics(self) -> np.ndarray:
        path = self.root / "intrinsic" / "intrinsic_color.txt"
        if not os.path.lexists(path):
            raise SceneError(f"{path}: missing intrinsics")
        return check_intrinsics(path, read_matrix(path)[:3, :3], self.native_size)

    def _read_splits(self) -> dict[str, list[str]]:
        path = self.root / "splits.json"
        if not os.path.lexists(path):
            test = self.frame_names[::4]
            return {"train": [n for n in self.frame_names if n not in set(test)], "test": test}
        return parse_splits(path, read_json(path, "splits file"), self.frame_names)

    def _read_segmentation_data(self) -> dict:
        json_path = self.root / "segmentation_data.json"
        pkl_path = self.root / "segmentation_data.pkl"
        if os.path.lexists(json_path):
            return parse_segmentation_data(json_path, read_json(json_path, "segmentation data"))
        if os.path.lexists(pkl_path):
            return parse_segmentation_data(pkl_path, load_restricted_pickle(pkl_path))
        return {}

    # ----------------------------------------------------------------- cameras
    @property
    def width(self) -> int:
        return self.size[0]

    @property
    def height(self) -> int:
        return self.size[1]

    @property
    def train_frames(self) -> list[str]:
        return self.splits["train"]

    @property
    def test_frames(self) -> list[str]:
        return self.splits["test"]

    def frame_index(self, name: str) -> int:
        return self._frame_index[name]

    @cached_property
    def _frame_index(self) -> dict[str, int]:
        return {n: i for i, n in enumerate(self.frame_names)}

    @property
    def intrinsics(self) -> np.ndarray:
        """3x3 K at the working resolution."""
        return scale_intrinsics(self._K_native, self.native_size, self.size)

    def pose(self, name: str) -> np.ndarray:
        """4x4 camera-to-world (OpenCV convention) in world units."""
        return self._poses[self._frame_index[name]].copy()

    @property
    def poses(self) -> np.ndarray:
        """(num_frames, 4, 4) camera-to-world poses in frame_names order."""
        return self._poses.copy()

    def normalization(self, max_depth: float = 5.0, rotation: np.ndarray | None = None) -> SceneNormalization:
        """World -> field coordinates: every camera's frustum (to ``max_depth``) inside the unit sphere,
        the axes turned by ``rotation`` (3, 3) when given."""
        self.check_camera_layout()
        return compute_scene_normalization(
            self.intrinsics, self._poses, self.width, self.height, max_depth, rotation=rotation
        )

    # ----------------------------------------------------------------- per-frame data
    def _path(self, folder: str, name: str, suffix: str) -> Path:
        return self.root / folder / f"{name}{suffix}"

    def color_path(self, name: str) -> Path:
        return self._color_files[name]

    def rgb(self, name: str) -> np.ndarray:
        """(H, W, 3) float32 in [0, 1] at the working resolution."""
        img = read_rgb(self._color_files[name]).astype(np.float32) / 255.0
        return np.clip(resize_bilinear(img, self.size), 0.0, 1.0)

    def depth(self, name: str) -> np.ndarray | None:
        """(H, W) float32 metres (0 = unknown) at the working resolution, or None."""
        path = self._path("depth", name, ".png")
        if not os.path.lexists(path):
            return None
        depth = self._check_size(path, read_label(path, "depth image"), "depth image")
        return resize_nearest(depth, self.size).astype(np.float32) / 1000.0

    def invalid_mask(self, name: str) -> np.ndarray:
        """(H, W) bool, True where a pixel must be ignored."""
        for suffix in (".jpg", ".png"):
            path = self._path("invalid", name, suffix)
            if os.path.lexists(path):
                mask = self._check_size(path, read_label(path, "invalid-pixel mask", lossy_ok=True), "mask")
                return resize_nearest(mask, self.size) > 0
        return np.zeros((self.height, self.width), dtype=bool)

    @property
    def has_machine_labels(self) -> bool:
        return (self.root / "m2f_semantics").is_dir()

    @property
    def has_ground_truth(self) -> bool:
        return (self.root / "rs_semantics").is_dir()

    def _check_size(self, path: Path, label: np.ndarray, what: str = "label") -> np.ndarray:
        if (label.shape[1], label.shape[0]) != self.native_size:
            raise SceneError(
                f"{path}: {what} size {label.shape[1]}x{label.shape[0]} differs from colour size "
                f"{self.native_size[0]}x{self.native_size[1]}"
            )
        return label

    def _label(self, folder: str, name: str) -> np.ndarray:
        path = self._path(folder, name, ".png")
        if not os.path.lexists(path):
            raise SceneError(f"{path}: missing label image for frame '{name}'")
        label = self._check_size(path, read_label(path))
        if folder.endswith("semantics"):
            check_class_ids(path, label, self.class_set.num_classes)
        return resize_nearest(label, self.size)

    def _label_dirs(self, tta: bool) -> tuple[str, str]:
        if not tta and (self.root / "m2f_notta_semantics").is_dir():
            return "m2f_notta_semantics", "m2f_notta_instance"
        return "m2f_semantics", "m2f_instance"

    def machine_label_maps(self, name: str, tta: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """(semantics, instance) machine label maps only, (H, W) int64 each: no probabilities are read."""
        sem_dir, ins_dir = self._label_dirs(tta)
        return self._label(sem_dir, name), self._label(ins_dir, name)

    def machine_labels(self, name: str, tta: bool = True) -> MachineLabels:
        """Machine labels at the working resolution (``tta=False`` reads the no-TTA variants if present)."""
        semantics, instance = self.machine_label_maps(name, tta)
        num_classes = self.class_set.num_classes
        seg_path = self._path("m2f_segments", name, ".png")
        if tta and os.path.lexists(seg_path):
            segments = self._label("m2f_segments", name)
        else:
            segments = segments_from_labels(semantics, instance)
        probability, confidence, confidence_notta = self._probabilities(name, semantics, num_classes)
        if not tta:
            # The stored distribution comes from TTA; without TTA the network's own (peaked) answer is the
            # label itself (the no-TTA one when its folders exist), so the soft target is its one-hot.
            probability = np.eye(num_classes, dtype=np.float32)[semantics]
            confidence = confidence_notta
        return MachineLabels(semantics, instance, segments, probability, confidence, confidence_notta)

    def _probabilities(self, name: str, semantics: np.ndarray, num_classes: int):
        path = self._path("m2f_probabilities", name, ".npz")
        if not os.path.lexists(path):
            probability = np.eye(num_classes, dtype=np.float32)[semantics]
            ones = np.ones(semantics.shape, dtype=np.float32)
            return probability, ones, ones
        arrays = read_npz_arrays(path, ["probability", "confidence", "confidence_notta"], "probabilities")
        probability, confidence, confidence_notta = check_probability_arrays(
            path, arrays, self.native_size, num_classes
        )
        return (
            resize_bilinear(probability, self.size),
            resize_bilinear(confidence, self.size),
            resize_bilinear(confidence_notta, self.size),
        )

    def ground_truth(self, name: str) -> GroundTruth | None:
        """Ground-truth labels (evaluation only; training must never call this)."""
        if not os.path.lexists(self._path("rs_semantics", name, ".png")):
            return None
        semantics = self._label("rs_semantics", name)
        ins_path = self._path("rs_instance", name, ".png")
        instance = self._label("rs_instance", name) if os.path.lexists(ins_path) else np.zeros_like(semantics)
        return GroundTruth(semantics, instance)

    # ----------------------------------------------------------------- checks
    def validate(self, deep: bool = False, frames: list[str] | None = None, progress=None) -> None:
        """Check the files of ``frames`` (default: every frame); raise one SceneError (``.problems`` lists
        each problem with its file). Headers and sizes only; ``deep=True`` decodes every image, label and
        probability file and checks values (class ids, distributions, confidences). See
        :func:`panolift.scene.validate.validate_scene`."""
        validate_scene(self, deep=deep, frames=frames, progress=progress)

    def __repr__(self) -> str:
        return f"Scene({str(self.root)!r}, frames={len(self.frame_names)}, size={self.size})"
