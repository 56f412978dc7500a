"""Per-pixel training targets of a frame, stored compactly: what one training pixel costs in memory.

==============  ========================  ============================================================
field           per pixel                 holds
==============  ========================  ============================================================
rgb             3 x uint8                 the colour
classes         top_k x uint8 (int16)     the ``top_k`` most likely classes of the machine distribution
class_prob      top_k x uint8             their probabilities renormalised to sum to 1, in 255ths that
                                          add up to 255 (the other classes' mass, 0.5% on average for the
                                          synthetic labels, moves to these in proportion)
confidence      uint8                     x 255, rounded, at least 1 when positive; 0 on void/unusable
instance        uint8 (int16)             the 2D instance, renumbered 1..n within the frame in id order
segments        int16                     the segment, renumbered 1..n within the frame in id order
==============  ========================  ============================================================

15 bytes at ``top_k = 4`` against 65 for the float16 distribution of 22 classes and int32 ids (plus an int64
index of usable pixels) it replaces. Renumbering keeps each id's order inside its frame, which is all the
losses see of 2D ids (they compare ids within one frame), so batches group rays exactly as before.
Renormalising the kept classes leaves the semantic loss's optimum where it was: under sum_k kappa(k) = 1,
-sum_{k in top} t_k log kappa(k) is smallest at kappa = t / sum_{top} t, with or without the rescaling.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, fields

import numpy as np
import torch

from panolift.scene import MachineLabels

log = logging.getLogger(__name__)

TOP_CLASSES = 4
"""Classes of each pixel's distribution that are kept (the synthetic labels have at most 7 non-zero)."""
MAX_SEGMENTS = int(np.iinfo(np.int16).max)


def class_dtype(num_classes: int) -> np.dtype:
    return np.dtype(np.uint8 if num_classes <= 256 else np.int16)


def instance_dtype(num_slots: int) -> np.dtype:
    return np.dtype(np.uint8 if num_slots <= 255 else np.int16)


@dataclass
class PixelTargets:
    """Compact targets of ``num_rows`` frames, tensors shaped (num_rows, num_pixels, ...) (see module)."""

    rgb: torch.Tensor  # (num_rows, num_pixels, 3) uint8
    classes: torch.Tensor  # (num_rows, num_pixels, top_k) uint8 or int16
    class_prob: torch.Tensor  # (num_rows, num_pixels, top_k) uint8
    confidence: torch.Tensor  # (num_rows, num_pixels) uint8
    instance: torch.Tensor  # (num_rows, num_pixels) uint8 or int16
    segments: torch.Tensor  # (num_rows, num_pixels) int16

    @staticmethod
    def empty(num_rows: int, num_pixels: int, num_classes: int, num_slots: int) -> PixelTargets:
        """Zeroed targets with the dtypes of ``num_classes`` classes and ``num_slots`` slots."""
        k = min(TOP_CLASSES, num_classes)

        def zeros(*shape, dtype):
            return torch.from_numpy(np.zeros((num_rows, num_pixels, *shape), dtype=dtype))

        return PixelTargets(
            rgb=zeros(3, dtype=np.uint8),
            classes=zeros(k, dtype=class_dtype(num_classes)),
            class_prob=zeros(k, dtype=np.uint8),
            confidence=zeros(dtype=np.uint8),
            instance=zeros(dtype=instance_dtype(num_slots)),
            segments=zeros(dtype=np.int16),
        )

    def tensors(self) -> dict[str, torch.Tensor]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def to(self, device: torch.device | str) -> PixelTargets:
        return PixelTargets(**{k: v.to(device) for k, v in self.tensors().items()})

    @property
    def num_rows(self) -> int:
        return self.rgb.shape[0]

    @property
    def bytes_per_pixel(self) -> int:
        return sum(v[0, 0].numel() * v.element_size() for v in self.tensors().values())

    def set_row(self, row: int, frame: dict[str, np.ndarray]) -> None:
        """Row ``row`` <- one frame's arrays (as :func:`encode_frame` returns them)."""
        for name, tensor in self.tensors().items():
            tensor[row].copy_(torch.from_numpy(frame[name]))


def quantize_unit(values: np.ndarray) -> np.ndarray:
    """Values in [0, 1] -> uint8 round(255 v); a positive value never becomes 0 (it stays labelled)."""
    q = np.round(np.clip(values, 0.0, 1.0) * 255.0).astype(np.uint8)
    q[(q == 0) & (values > 0)] = 1
    return q


def renumber_ids(ids: np.ndarray, limit: int, what: str, frame: str) -> np.ndarray:
    """Ids > 0 -> 1..n in increasing order of the original ids (0 stays 0); beyond ``limit`` distinct ids
    the smallest regions become 0 (with a warning)."""
    present, inverse, counts = np.unique(ids, return_inverse=True, return_counts=True)
    inverse = inverse.reshape(ids.shape)
    positive = present > 0
    if positive.sum() > limit:
        log.warning("frame %s: %d %s > %d, dropping the smallest", frame, int(positive.sum()), what, limit)
        order = np.argsort(-np.where(positive, counts, -1), kind="stable")
        positive = np.zeros_like(positive)
        positive[order[:limit]] = True
    new = np.where(positive, np.cumsum(positive), 0)
    return new[inverse]


def quantize_distribution(prob: np.ndarray) -> np.ndarray:
    """(num_pixels, k) probabilities -> uint8 255ths of ``prob / prob.sum(-1)`` that add up to exactly 255
    (largest remainders round up); an all-zero row stays zero."""
    total = prob.sum(axis=1, keepdims=True, dtype=np.float64)
    scaled = np.where(total > 0, prob / np.where(total > 0, total, 1.0), 0.0) * 255.0
    floor = np.floor(scaled)
    deficit = np.where(total[:, 0] > 0, 255 - floor.sum(axis=1), 0)
    rank = np.argsort(np.argsort(floor - scaled, axis=1, kind="stable"), axis=1, kind="stable")
    return (floor + (rank < deficit[:, None])).astype(np.uint8)


def top_classes(probability: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(num_pixels, k) classes of the ``k`` largest probabilities, largest first, and those probabilities
    (ties broken towards the lower class id)."""
    order = np.argsort(-probability, axis=1, kind="stable")[:, :k]
    return order, np.take_along_axis(probability, order, axis=1)


def encode_frame(
    rgb: np.ndarray,  # (H, W, 3) float in [0, 1]
    labels: MachineLabels,
    usable: np.ndarray,  # (H, W) bool
    instance: np.ndarray,  # (H, W) 2D instance ids after dropping extras, 0 on unusable pixels
    num_classes: int,
    num_slots: int,
    frame: str,
) -> dict[str, np.ndarray]:
    """One frame's compact targets (flat over pixels) and its ``usable`` mask."""
    k = min(TOP_CLASSES, num_classes)
    probability = labels.probability.reshape(-1, labels.probability.shape[-1])
    classes, prob = top_classes(probability, k)
    confidence = np.where(usable & (labels.semantics > 0), labels.confidence, 0.0)
    return {
        "rgb": np.round(rgb * 255).astype(np.uint8).reshape(-1, 3),
        "classes": classes.astype(class_dtype(num_classes)),
        "class_prob": quantize_distribution(prob),
        "confidence": quantize_unit(confidence.reshape(-1)),
        "instance": renumber_ids(instance.reshape(-1), num_slots, "2D instances", frame).astype(
            instance_dtype(num_slots)
        ),
        "segments": renumber_ids(
            np.where(usable, labels.segments, 0).reshape(-1), MAX_SEGMENTS, "segments", frame
        ).astype(np.int16),
        "usable": usable.reshape(-1),
    }


def decode_targets(
    targets: PixelTargets,
    rows: torch.Tensor,
    pixels: torch.Tensor,
    num_classes: int,
    target_classes: torch.Tensor | None = None,
) -> dict[str, torch.Tensor]:
    """The float / long targets of (rows, pixels): rgb (num_rays, 3) in [0, 1], probability
    (num_rays, num_classes) with the kept classes' mass, confidence (num_rays,), instance and segments.
    ``target_classes``: (num_classes,) bool; a pixel whose most likely class is not one of them gets
    confidence 0 (not lifted)."""
    prob = targets.class_prob[rows, pixels].float() / 255.0
    dense = prob.new_zeros(prob.shape[0], num_classes)
    classes = targets.classes[rows, pixels].long()
    confidence = targets.confidence[rows, pixels].float() / 255.0
    if target_classes is not None:
        confidence = confidence * target_classes.to(classes.device)[classes[:, 0]]
    return {
        "rgb": targets.rgb[rows, pixels].float() / 255.0,
        "probability": dense.scatter_(1, classes, prob),
        "confidence": confidence,
        "instance": targets.instance[rows, pixels].long(),
        "segments": targets.segments[rows, pixels].long(),
    }


__all__ = [
    "TOP_CLASSES",
    "PixelTargets",
    "decode_targets",
    "encode_frame",
    "quantize_distribution",
    "quantize_unit",
    "renumber_ids",
]
