"""Panoptic quality (Kirillov et al., CVPR 2019) on label arrays: PQ, SQ, RQ with the things / stuff split.

A *segment* is a (class, instance) pair; stuff classes ignore the instance id (one segment per stuff class).
Per class k, with TP_k the matched (prediction, ground truth) segment pairs (IoU > 0.5, unique by
construction), FP_k unmatched predicted and FN_k unmatched ground-truth segments:

    PQ_k = sum_{(p, g) in TP_k} IoU(p, g) / (|TP_k| + |FP_k| / 2 + |FN_k| / 2)
    SQ_k = sum_{(p, g) in TP_k} IoU(p, g) / |TP_k|          (0 when TP_k is empty)
    RQ_k = |TP_k| / (|TP_k| + |FP_k| / 2 + |FN_k| / 2)

so PQ_k = SQ_k * RQ_k. PQ, SQ and RQ average these over the classes that have at least one segment.

Matching works on an :class:`Overlaps` table (pixel counts of every (ground-truth segment, predicted
segment) pair). The table of one image gives per-image PQ; the merged tables of all test frames give
PQ^scene, exactly as if all test pixels of the scene were one image: a segment is then a (class, instance)
pair across the whole scene, so an object whose predicted id changes between views is split in two and
loses its match.
The authors' variant (Panoptic Lifting's evaluation code) is in :mod:`panolift.evaluate.protocols`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class PanopticCounts:
    """Per-class matching counts; every array has shape (num_classes,)."""

    iou_sum: np.ndarray  # float64, sum of IoU over matched pairs
    tp: np.ndarray  # int64
    fp: np.ndarray  # int64
    fn: np.ndarray  # int64

    @staticmethod
    def zeros(num_classes: int) -> PanopticCounts:
        z = np.zeros(num_classes, dtype=np.int64)
        return PanopticCounts(np.zeros(num_classes), z.copy(), z.copy(), z.copy())


def instance_shift(*instances: np.ndarray) -> int:
    """Bits kept for the instance id in a segment key: 16 when every id fits (small keys are fast), else 32."""
    largest = max((int(np.max(a, initial=0)) for a in instances), default=0)
    if largest >= 1 << 32:
        raise ValueError(f"instance ids must lie in [0, 2^32), got {largest}")
    return 16 if largest < 1 << 16 else 32


def segment_keys(semantics: np.ndarray, instance: np.ndarray, thing_ids, shift: int = 32) -> np.ndarray:
    """One int64 key per pixel, ``key = class * 2^shift + instance`` with the instance zeroed for stuff.

    Keys of different pixels are equal exactly when the pixels belong to the same segment.
    """
    semantics = np.asarray(semantics, dtype=np.int64).reshape(-1)
    instance = np.asarray(instance, dtype=np.int64).reshape(-1)
    if semantics.shape != instance.shape:
        raise ValueError(f"semantics has {semantics.size} pixels, instance {instance.size}")
    if instance.size and (instance.min() < 0 or instance.max() >= 1 << shift):
        raise ValueError(f"instance ids must lie in [0, 2^{shift}), got {instance.min()}..{instance.max()}")
    if semantics.size == 0:
        return semantics.copy()
    is_thing = np.zeros(max(int(semantics.max()), *thing_ids, 0) + 1, dtype=bool)  # lookup: faster than isin
    is_thing[list(thing_ids)] = True
    return (semantics << shift) + np.where(is_thing[semantics], instance, 0)


def factorize(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(unique keys, inverse, counts) as ``np.unique`` gives them; O(n) with a bincount for small keys."""
    keys = np.asarray(keys, dtype=np.int64)
    if keys.size and keys.min() >= 0 and keys.max() < 1 << 25:
        counts = np.bincount(keys)
        unique = np.flatnonzero(counts)
        lookup = np.zeros(len(counts), dtype=np.int64)
        lookup[unique] = np.arange(len(unique))
        return unique, lookup[keys], counts[unique]
    return np.unique(keys, return_inverse=True, return_counts=True)


KEY_SHIFT = 32  # segment keys in an Overlaps table: class * 2^32 + instance


@dataclass
class Overlaps:
    """Pixel counts of (ground-truth segment, predicted segment) pairs, one row per distinct pair.

    Keys are ``class * 2^32 + instance`` (instance 0 for stuff). Areas and intersections are sums over
    pixels, so the table of a whole scene is the merged tables of its frames (PQ^scene without ever
    holding all pixels at once). Only pixels whose ground-truth class is not void are counted.
    """

    gt_key: np.ndarray  # (num_pairs,) int64
    pred_key: np.ndarray  # (num_pairs,) int64
    count: np.ndarray  # (num_pairs,) int64

    @staticmethod
    def merge(tables: list[Overlaps]) -> Overlaps:
        """One table with the counts of equal pairs summed."""
        gt = np.concatenate([t.gt_key for t in tables]) if tables else np.zeros(0, np.int64)
        pred = np.concatenate([t.pred_key for t in tables]) if tables else np.zeros(0, np.int64)
        count = np.concatenate([t.count for t in tables]) if tables else np.zeros(0, np.int64)
        return sum_pairs(gt, pred, count)


def sum_pairs(gt: np.ndarray, pred: np.ndarray, count: np.ndarray) -> Overlaps:
    if gt.size == 0:
        return Overlaps(gt.astype(np.int64), pred.astype(np.int64), count.astype(np.int64))
    pairs, inverse = np.unique(np.stack([gt, pred], 1), axis=0, return_inverse=True)
    summed = np.bincount(inverse.reshape(-1), weights=count, minlength=len(pairs))
    return Overlaps(pairs[:, 0].copy(), pairs[:, 1].copy(), np.round(summed).astype(np.int64))


def count_overlaps(
    pred_semantics: np.ndarray,
    pred_instance: np.ndarray,
    gt_semantics: np.ndarray,
    gt_instance: np.ndarray,
    num_classes: int,
    thing_ids,
) -> Overlaps:
    """The overlap table of one image (arrays of any equal shape); ground-truth void pixels are dropped."""
    gt_sem = np.asarray(gt_semantics, dtype=np.int64).reshape(-1)
    for what, arr in (("prediction", np.asarray(pred_semantics)), ("ground truth", gt_sem)):
        if arr.size and (arr.min() < 0 or arr.max() >= num_classes):
            raise ValueError(f"{what} class ids must lie in [0, {num_classes}), got {arr.min()}..{arr.max()}")
    keep = gt_sem != 0
    shift = instance_shift(pred_instance, gt_instance)
    gt_key = segment_keys(gt_sem, gt_instance, thing_ids, shift)[keep]
    pred_key = segment_keys(pred_semantics, pred_instance, thing_ids, shift)[keep]
    gt_segs, gt_idx, _ = factorize(gt_key)
    pred_segs, pred_idx, _ = factorize(pred_key)
    pair, _, inter = factorize(gt_idx * len(pred_segs) + pred_idx)
    g, p = pair // max(len(pred_segs), 1), pair % max(len(pred_segs), 1)

    def rekey(segs: np.ndarray) -> np.ndarray:  # this image's shift -> the table's fixed shift
        return ((segs >> shift) << KEY_SHIFT) + (segs & ((1 << shift) - 1))

    return Overlaps(rekey(gt_segs)[g], rekey(pred_segs)[p], inter.astype(np.int64))


def segment_areas(
    overlaps: Overlaps,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(gt segments, row -> gt segment, gt areas, pred segments, row -> pred segment, pred areas)."""
    gt_segs, g = np.unique(overlaps.gt_key, return_inverse=True)
    pred_segs, p = np.unique(overlaps.pred_key, return_inverse=True)
    g, p = g.reshape(-1), p.reshape(-1)
    gt_area = np.bincount(g, weights=overlaps.count, minlength=len(gt_segs)).round().astype(np.int64)
    pred_area = np.bincount(p, weights=overlaps.count, minlength=len(pred_segs)).round().astype(np.int64)
    return gt_segs, g, gt_area, pred_segs, p, pred_area


def matched_pairs(
    inter: np.ndarray, gt_cls: np.ndarray, pred_cls: np.ndarray, gt_area: np.ndarray, pred_area: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """IoU of each (gt, pred) overlap row, and whether the row is a match: same class, not void, IoU > 0.5
    (at most one match per segment on either side, since two would need more than half of it each)."""
    iou = inter / (gt_area + pred_area - inter)
    return iou, (gt_cls == pred_cls) & (pred_cls != 0) & (iou > 0.5)


def match_overlaps(overlaps: Overlaps, num_classes: int) -> PanopticCounts:
    """Match predicted to ground-truth segments at ``IoU = |p & g| / |p | g| > 0.5`` (same class only).

    Predicted void pixels belong to no segment (they count against the ground-truth segment they cover).
    """
    counts = PanopticCounts.zeros(num_classes)
    if overlaps.count.size == 0:
        return counts
    gt_segs, g, gt_area, pred_segs, p, pred_area = segment_areas(overlaps)
    gt_cls, pred_cls = gt_segs >> KEY_SHIFT, pred_segs >> KEY_SHIFT
    iou, matched = matched_pairs(overlaps.count, gt_cls[g], pred_cls[p], gt_area[g], pred_area[p])
    g, p, iou = g[matched], p[matched], iou[matched]
    counts.tp += np.bincount(gt_cls[g], minlength=num_classes)
    counts.iou_sum += np.bincount(gt_cls[g], weights=iou, minlength=num_classes)
    gt_unmatched = np.ones(len(gt_segs), dtype=bool)
    gt_unmatched[g] = False
    pred_unmatched = pred_cls != 0
    pred_unmatched[p] = False
    counts.fn += np.bincount(gt_cls[gt_unmatched], minlength=num_classes)
    counts.fp += np.bincount(pred_cls[pred_unmatched], minlength=num_classes)
    return counts


def match_segments(
    pred_semantics: np.ndarray,
    pred_instance: np.ndarray,
    gt_semantics: np.ndarray,
    gt_instance: np.ndarray,
    num_classes: int,
    thing_ids,
) -> PanopticCounts:
    """Match the segments of one image (see :func:`match_overlaps`); ground-truth void pixels are removed."""
    overlaps = count_overlaps(
        pred_semantics, pred_instance, gt_semantics, gt_instance, num_classes, thing_ids
    )
    return match_overlaps(overlaps, num_classes)


def panoptic_quality(counts: PanopticCounts, thing_ids, classes: np.ndarray | None = None) -> dict:
    """PQ, SQ, RQ (module docstring) averaged over ``classes`` (default: every class with a segment).

    Returns a dict with pq, sq, rq, pq_things, pq_stuff (NaN where no class is averaged) and the per-class
    arrays per_class_pq / per_class_sq / per_class_rq (NaN for classes not averaged).
    """
    tp = counts.tp.astype(np.float64)
    denom = tp + 0.5 * counts.fp + 0.5 * counts.fn
    if classes is None:
        classes = np.flatnonzero(denom > 0)
    classes = np.asarray(classes, dtype=np.int64)
    n = len(tp)
    pq_k, sq_k, rq_k = (np.full(n, np.nan) for _ in range(3))
    with np.errstate(divide="ignore", invalid="ignore"):
        pq_k[classes] = np.where(denom[classes] > 0, counts.iou_sum[classes] / denom[classes], 0.0)
        sq_k[classes] = np.where(tp[classes] > 0, counts.iou_sum[classes] / tp[classes], 0.0)
        rq_k[classes] = np.where(denom[classes] > 0, tp[classes] / denom[classes], 0.0)
    things = np.isin(classes, np.asarray(list(thing_ids), dtype=np.int64))
    return {
        "pq": _mean(pq_k[classes]),
        "sq": _mean(sq_k[classes]),
        "rq": _mean(rq_k[classes]),
        "pq_things": _mean(pq_k[classes[things]]),
        "pq_stuff": _mean(pq_k[classes[~things]]),
        "per_class_pq": pq_k,
        "per_class_sq": sq_k,
        "per_class_rq": rq_k,
    }


def _mean(values: np.ndarray) -> float:
    return float(np.mean(values)) if len(values) else float("nan")


def image_panoptic_quality(
    pred_semantics: np.ndarray,
    pred_instance: np.ndarray,
    gt_semantics: np.ndarray,
    gt_instance: np.ndarray,
    num_classes: int,
    thing_ids,
) -> dict:
    """PQ / SQ / RQ of one image (or of all pixels of a scene, concatenated: PQ^scene). See the module."""
    counts = match_segments(pred_semantics, pred_instance, gt_semantics, gt_instance, num_classes, thing_ids)
    return panoptic_quality(counts, thing_ids)
