"""Labelling a scene: images -> Mask2Former runs (with TTA) -> fused panoptic labels -> scene files.

:class:`PanopticLabeler` turns a batch of images into labels (tensors, any device); :class:`SceneLabelJob`
walks a scene folder, skips frames already labelled (unless ``overwrite``), numbers thing instances with a
running counter so that ids are unique across the scene, and writes each frame through
``SceneWriter.write_machine_labels`` (every file atomic; a frame counts as done only when all of its files
exist, so an interrupted run redoes the frame it was writing).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from panolift.scene import SCANNET21, ClassSet, Scene, SceneError, SceneWriter, fit_size, resize_nearest
from panolift.scene.io import read_label

from .coco_classes import map_coco_to_class_set
from .fusion import (
    PanopticResult,
    SegmentSet,
    fuse_segments,
    merge_panoptic,
    resize_masks,
    segments_from_queries,
)
from .mask2former import Mask2FormerSegmenter
from .tta import TTA_RECIPES, augment_images, undo_flips

log = logging.getLogger(__name__)

MAX_ID = 65535  # label PNGs are uint16


@dataclass
class SegmentConfig:
    """Settings of the 2D front end."""

    tta: bool = True
    """Segment the image and 12 augmented copies and fuse them (the paper's setting); off = one run."""
    batch_size: int = 13
    """Images per forward pass of the network (all TTA copies of a frame count)."""
    min_score: float = 0.8
    """Queries whose best class probability is not above this are dropped (Mask2Former's panoptic threshold)."""
    iou_threshold: float = 0.5
    """Two segments of different runs belong to one cluster when their soft IoU reaches this."""
    overlap_threshold: float = 0.8
    """A segment survives the merge when at least this fraction of its area is left."""
    mask_threshold: float = 0.5
    """A pixel belongs to a soft mask where the mask reaches this."""
    max_side: int | None = None
    """Fuse and merge at this long side at most (labels are written at the colour images' size)."""
    probability_max_side: int = 256
    """m2f_probabilities are stored with at most this long side (the Scene API resizes them back)."""
    seed: int = 0
    """Seed of the random augmentation parameters (per frame: reruns reproduce the labels)."""


@dataclass
class FrameLabels:
    """Labels of one image at the working resolution (frame-local instance and segment ids)."""

    tta: PanopticResult | None  # None without TTA
    notta: PanopticResult


class PanopticLabeler:
    """Mask2Former + class mapping + TTA fusion + panoptic merge for one class set."""

    def __init__(
        self, segmenter: Mask2FormerSegmenter, class_set: ClassSet, config: SegmentConfig | None = None
    ):
        self.segmenter = segmenter
        self.class_set = class_set
        self.config = config or SegmentConfig()
        self.class_map = map_coco_to_class_set(segmenter.label_names, class_set)
        self.recipes = TTA_RECIPES if self.config.tta else ((),)

    @property
    def runs_per_image(self) -> int:
        return len(self.recipes)

    def _predict_runs(self, images: torch.Tensor, seeds: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        device = self.segmenter.device
        runs = torch.cat(
            [
                augment_images(
                    images[i : i + 1].to(device), self.recipes, torch.Generator().manual_seed(seed)
                )
                for i, seed in enumerate(seeds)
            ]
        )
        class_logits, mask_logits = [], []
        step = max(1, self.config.batch_size)
        for start in range(0, runs.shape[0], step):
            c, m = self.segmenter.predict(runs[start : start + step])
            class_logits.append(c)
            mask_logits.append(m)
        return torch.cat(class_logits), undo_flips(torch.cat(mask_logits), self.recipes)

    def label_images(self, images: torch.Tensor, seeds: list[int] | None = None) -> list[FrameLabels]:
        """Labels of a batch of images.

        Args:
            images: (batch, 3, H, W) RGB in [0, 1]; the labels come out at (H, W).
            seeds: one seed per image for the augmentation parameters (default: ``config.seed``).
        """
        cfg = self.config
        seeds = seeds if seeds is not None else [cfg.seed] * images.shape[0]
        class_logits, mask_logits = self._predict_runs(images, seeds)
        size = tuple(images.shape[-2:])
        num_runs = self.runs_per_image
        results = []
        for b in range(images.shape[0]):
            runs = [
                segments_from_queries(
                    class_logits[r], mask_logits[r], self.class_map, self.class_set.num_classes, cfg.min_score
                )
                for r in range(b * num_runs, (b + 1) * num_runs)
            ]
            notta = self._merge(runs[0], size)
            fused = self._merge(fuse_segments(runs, cfg.iou_threshold), size) if cfg.tta else None
            results.append(FrameLabels(tta=fused, notta=notta))
        return results

    def _merge(self, segments: SegmentSet, size: tuple[int, int]) -> PanopticResult:
        # clustering ran at the network's mask resolution; the merge runs at the working resolution
        upsampled = SegmentSet(segments.probs, resize_masks(segments.masks, size))
        cfg = self.config
        return merge_panoptic(upsampled, self.class_set.thing_ids, cfg.overlap_threshold, cfg.mask_threshold)


def _label_files(root: Path, name: str, tta: bool) -> list[Path]:
    files = [
        root / "m2f_semantics" / f"{name}.png",
        root / "m2f_instance" / f"{name}.png",
        root / "m2f_segments" / f"{name}.png",
        root / "m2f_probabilities" / f"{name}.npz",
    ]
    if tta:  # a scene labelled without TTA is redone by a TTA run (its notta folders are missing)
        files += [root / "m2f_notta_semantics" / f"{name}.png", root / "m2f_notta_instance" / f"{name}.png"]
    return files


def _downsample(array: torch.Tensor, max_side: int) -> torch.Tensor:
    """Area-average (H, W[, C]) to a long side of at most ``max_side`` (keeps distributions summing to 1)."""
    h, w = array.shape[:2]
    if max(h, w) <= max_side:
        return array
    scale = max_side / max(h, w)
    size = (max(1, round(h * scale)), max(1, round(w * scale)))
    chw = array[None, None] if array.ndim == 2 else array.permute(2, 0, 1)[None]
    out = F.interpolate(chw.float(), size=size, mode="area")[0]
    return out[0] if array.ndim == 2 else out.permute(1, 2, 0)


class SceneLabelJob:
    """Label the frames of one scene folder. ``pending`` lists the frames :meth:`run` will write."""

    def __init__(
        self,
        root: str | Path,
        segmenter: Mask2FormerSegmenter,
        config: SegmentConfig,
        overwrite: bool = False,
    ):
        self.root = Path(root)
        self.config = config
        scene = Scene(self.root)
        self.native_size = scene.native_size
        self.scene = Scene(self.root, size=fit_size(scene.native_size, max_side=config.max_side or 0))
        if not scene.segmentation_data:
            SceneWriter(self.root).write_segmentation_data(SCANNET21)
            log.info("%s: wrote segmentation_data.json (reduced ScanNet, 21 classes)", self.root)
        self.class_set = scene.class_set
        self.labeler = PanopticLabeler(segmenter, self.class_set, config)
        names = scene.frame_names
        self.pending = [
            n
            for n in names
            if overwrite or not all(p.exists() for p in _label_files(self.root, n, config.tta))
        ]
        pending = set(self.pending)
        done = [n for n in names if n not in pending]
        self.next_instance = 1 + self._max_id(done, "m2f_instance")
        self.next_notta_instance = 1 + self._max_id(done, "m2f_notta_instance")
        self._index = {n: i for i, n in enumerate(names)}
        self.writer = SceneWriter(self.root)

    def _max_id(self, names: list[str], folder: str) -> int:
        paths = [self.root / folder / f"{n}.png" for n in names]
        return max((int(read_label(p).max(initial=0)) for p in paths if p.exists()), default=0)

    def run(self) -> Iterator[str]:
        """Label the pending frames, yielding each name once its files are written."""
        per_group = max(1, self.config.batch_size // self.labeler.runs_per_image)
        for start in range(0, len(self.pending), per_group):
            group = self.pending[start : start + per_group]
            images = torch.stack([torch.from_numpy(self.scene.rgb(n)).permute(2, 0, 1) for n in group])
            seeds = [self.config.seed * 1_000_003 + self._index[n] for n in group]
            for name, labels in zip(group, self.labeler.label_images(images, seeds), strict=True):
                self._write(name, labels)
                yield name

    def _offset_instances(self, instance: torch.Tensor, start: int, what: str) -> tuple[np.ndarray, int]:
        ids = instance.cpu().numpy().astype(np.int64)
        count = int(ids.max(initial=0))
        if start + count - 1 > MAX_ID:
            raise SceneError(f"{self.root / what}: more than {MAX_ID} instances in the scene")
        ids = np.where(ids > 0, ids + start - 1, 0)
        return resize_nearest(ids, self.native_size), start + count

    def _write(self, name: str, labels: FrameLabels) -> None:
        main = labels.tta if labels.tta is not None else labels.notta
        instance, self.next_instance = self._offset_instances(
            main.instance, self.next_instance, "m2f_instance"
        )
        extra = {}
        if labels.tta is not None:
            notta_instance, self.next_notta_instance = self._offset_instances(
                labels.notta.instance, self.next_notta_instance, "m2f_notta_instance"
            )
            extra = {
                "notta_semantics": resize_nearest(labels.notta.semantics.cpu().numpy(), self.native_size),
                "notta_instance": notta_instance,
            }
        side = self.config.probability_max_side
        self.writer.write_machine_labels(
            name,
            semantics=resize_nearest(main.semantics.cpu().numpy(), self.native_size),
            instance=instance,
            segments=resize_nearest(main.segments.cpu().numpy(), self.native_size),
            probability=_downsample(main.probability, side).cpu().numpy(),
            confidence=_downsample(main.confidence, side).cpu().numpy(),
            confidence_notta=_downsample(labels.notta.confidence, side).cpu().numpy(),
            **extra,
        )
