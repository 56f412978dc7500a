"""Writing the scene layout (everything panolift produces uses the layout it reads)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .classes import ClassSet
from .io import SceneError, write_image, write_json, write_matrix, write_npz


def _check_ids(array: np.ndarray, what: str, limit: int = 65535) -> np.ndarray:
    if array.min(initial=0) < 0 or array.max(initial=0) > limit:
        raise SceneError(f"{what}: ids must lie in 0..{limit}, got {array.min()}..{array.max()}")
    return array.astype(np.uint16)


class SceneWriter:
    """Writes frames, labels and metadata of one scene folder; every file is written atomically."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def write_intrinsics(self, K: np.ndarray) -> None:
        """K: 3x3 (or 4x4) pinhole intrinsics for the colour images' resolution."""
        K4 = np.eye(4)
        K4[:3, :3] = np.asarray(K)[:3, :3]
        write_matrix(self.root / "intrinsic" / "intrinsic_color.txt", K4)

    def write_frame(
        self,
        name: str,
        rgb: np.ndarray,  # (H, W, 3) uint8, or float in [0, 1]
        c2w: np.ndarray,  # (4, 4) camera-to-world, OpenCV convention
        depth: np.ndarray | None = None,  # (H, W) metres; 0 = unknown
        suffix: str = ".jpg",
        quality: int = 95,  # JPEG quality when suffix is ".jpg"
    ) -> None:
        if rgb.dtype != np.uint8:
            rgb = (np.clip(rgb, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
        if not np.all(np.isfinite(c2w)):
            raise SceneError(f"pose of frame '{name}' is not finite")
        write_image(self.root / "color" / f"{name}{suffix}", rgb, quality=quality)
        write_matrix(self.root / "pose" / f"{name}.txt", c2w)
        if depth is not None:
            mm = np.clip(np.nan_to_num(depth) * 1000.0 + 0.5, 0, 65535).astype(np.uint16)
            write_image(self.root / "depth" / f"{name}.png", mm)

    def write_machine_labels(
        self,
        name: str,
        semantics: np.ndarray,  # (H, W) int class index
        instance: np.ndarray,  # (H, W) int 2D instance id, 0 = stuff/void
        segments: np.ndarray | None = None,  # (H, W) int segment id
        probability: np.ndarray | None = None,  # (h, w, num_classes) float
        confidence: np.ndarray | None = None,  # (h, w) float
        confidence_notta: np.ndarray | None = None,  # (h, w) float
        notta_semantics: np.ndarray | None = None,
        notta_instance: np.ndarray | None = None,
    ) -> None:
        write_image(
            self.root / "m2f_semantics" / f"{name}.png",
            _check_ids(semantics, "semantics", 255).astype(np.uint8),
        )
        write_image(self.root / "m2f_instance" / f"{name}.png", _check_ids(instance, "instance"))
        if segments is not None:
            write_image(self.root / "m2f_segments" / f"{name}.png", _check_ids(segments, "segments"))
        if probability is not None:
            conf = confidence if confidence is not None else probability.max(-1)
            arrays = {"probability": probability.astype(np.float16), "confidence": conf.astype(np.float16)}
            if confidence_notta is not None:
                arrays["confidence_notta"] = confidence_notta.astype(np.float16)
            write_npz(self.root / "m2f_probabilities" / f"{name}.npz", **arrays)
        if notta_semantics is not None:
            write_image(
                self.root / "m2f_notta_semantics" / f"{name}.png",
                _check_ids(notta_semantics, "semantics", 255).astype(np.uint8),
            )
        if notta_instance is not None:
            write_image(
                self.root / "m2f_notta_instance" / f"{name}.png", _check_ids(notta_instance, "instance")
            )

    def write_ground_truth(self, name: str, semantics: np.ndarray, instance: np.ndarray) -> None:
        write_image(
            self.root / "rs_semantics" / f"{name}.png",
            _check_ids(semantics, "semantics", 255).astype(np.uint8),
        )
        write_image(self.root / "rs_instance" / f"{name}.png", _check_ids(instance, "instance"))

    def write_splits(self, train: list[str], test: list[str]) -> None:
        write_json(self.root / "splits.json", {"train": list(train), "test": list(test)})

    def write_segmentation_data(self, class_set: ClassSet, **extra) -> None:
        data = class_set.to_segmentation_data()
        data.update(extra)
        write_json(self.root / "segmentation_data.json", data)
