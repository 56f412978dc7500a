"""Evaluation protocols: how the test pixels of a scene become mIoU, PQ^scene and per-image PQ.

``standard`` (ours; also in PROTOCOLS.md)
    * Labels are compared at the working resolution the prediction was made at (no resizing).
    * Pixels whose ground-truth class is void (0), or that the scene marks invalid, are removed.
    * mIoU: one confusion matrix over all test pixels; IoU_k = TP_k / (TP_k + FP_k + FN_k), averaged over
      the non-void classes that occur in the ground truth or the prediction. A predicted void pixel counts
      as a miss of its ground-truth class.
    * PQ (Kirillov et al.): segments are (class, instance) pairs, stuff classes one segment per class,
      matched at IoU > 0.5 with the plain IoU; predicted void pixels belong to no segment. PQ_k, SQ_k, RQ_k
      are averaged over the classes with at least one segment (PQ_k = SQ_k * RQ_k for every class).
    * PQ^scene: all test pixels of the scene as one image; pq_image: per-image PQ averaged over frames.
    * No class is dropped for being small, and no segment is ignored for being mostly void.

``panoptic-lifting`` (the authors' evaluation code, reproduced step by step)
    * Labels are resized (nearest) to a fixed size (512x512 by default), pixels whose ground-truth class is
      void removed; the scene's invalid masks are not used.
    * mIoU: one confusion matrix; a class is dropped when it covers under 0.5% of the pixels in *both*
      prediction and ground truth; the void class counts when predicted on at least 0.5% of the pixels
      (its IoU is then 0); classes absent from both are skipped (NaN-mean).
    * PQ: void (class 0) is a stuff class like the others (predicted void pixels form a segment); classes
      absent from both sides, or covering under 0.5% of the pixels in *either* prediction or ground truth,
      are dropped and their pixels become a void colour; IoU = |p & g| / (|p| + |g| - |p & g| - |p & void_gt|
      - |void_pred & g|); unmatched segments more than half void are ignored; PQ, SQ, RQ are means over all
      kept classes (0 for a class with no counted segment). IoUs are float32, as in their torch code.
      Their printout swaps SQ and RQ; ours labels them right.
    * pq_image: the same PQ per image, averaged over frames.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from .metrics import class_boundary, mean_iou, semantic_confusion
from .panoptic import (
    KEY_SHIFT,
    Overlaps,
    PanopticCounts,
    count_overlaps,
    match_overlaps,
    matched_pairs,
    panoptic_quality,
    segment_areas,
    sum_pairs,
)

PROTOCOLS = ("standard", "panoptic-lifting")
ROBUST_FRACTION = 0.005  # the authors' threshold for "non-robust" (rare) classes


def check_protocol(protocol: str) -> str:
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol '{protocol}'; choose one of {', '.join(PROTOCOLS)}")
    return protocol


# ------------------------------------------------------------------ the authors' metrics
def panoptic_lifting_mean_iou(
    confusion: np.ndarray, robust: float = ROBUST_FRACTION
) -> tuple[float, np.ndarray]:
    """The authors' mIoU: ``IoU_k = M[k, k] / (sum_p M[k, p] + sum_g M[g, k] - M[k, k])``, NaN-mean over
    classes, with classes under ``robust`` of the pixels in both rows and columns set to NaN.

    Unlike :func:`~panolift.evaluate.metrics.mean_iou`, the void class is averaged when predicted.
    Returns (mIoU, per-class IoU with NaN for dropped classes).
    """
    confusion = np.asarray(confusion, dtype=np.float64)
    total = confusion.sum()
    with np.errstate(divide="ignore", invalid="ignore"):
        iou = np.diag(confusion) / (confusion.sum(0) + confusion.sum(1) - np.diag(confusion))
        rare = (confusion.sum(0) / total < robust) & (confusion.sum(1) / total < robust)
    iou[rare] = np.nan
    miou = float(np.nanmean(iou)) if np.isfinite(iou).any() else float("nan")
    return miou, iou


def panoptic_lifting_pq(
    pred_semantics: np.ndarray,
    pred_instance: np.ndarray,
    gt_semantics: np.ndarray,
    gt_instance: np.ndarray,
    num_classes: int,
    thing_ids,
    robust: float = ROBUST_FRACTION,
) -> dict:
    """The authors' panoptic quality of one image (or of concatenated pixels); see
    :func:`panoptic_lifting_pq_from_overlaps`."""
    overlaps = count_overlaps(
        pred_semantics, pred_instance, gt_semantics, gt_instance, num_classes, thing_ids
    )
    return panoptic_lifting_pq_from_overlaps(overlaps, num_classes, thing_ids, robust)


def panoptic_lifting_pq_from_overlaps(
    overlaps: Overlaps, num_classes: int, thing_ids, robust: float = ROBUST_FRACTION
) -> dict:
    """The authors' panoptic quality (module docstring); same output as
    :func:`~panolift.evaluate.panoptic.panoptic_quality`.

    ``PQ_k = sum IoU / (TP + FP/2 + FN/2)``, ``SQ_k = sum IoU / TP``, ``RQ_k = TP / (TP + FP/2 + FN/2)`` with
    ``IoU = |p & g| / (|p| + |g| - |p & g| - |p & void_gt| - |void_pred & g|)`` and the matching at IoU > 0.5.
    """
    gt_cls, pred_cls = overlaps.gt_key >> KEY_SHIFT, overlaps.pred_key >> KEY_SHIFT
    total = max(int(overlaps.count.sum()), 1)
    keep = np.zeros(num_classes, dtype=bool)
    rare = np.zeros(num_classes, dtype=bool)
    for cls in (pred_cls, gt_cls):
        area = np.bincount(cls, weights=overlaps.count, minlength=num_classes)
        keep |= area > 0
        rare |= (area > 0) & (area / total < robust)
    kept = np.flatnonzero(keep & ~rare)
    # dropped classes, on either side, become one "void" segment
    void_key = (1 + int(kept.max(initial=0))) << KEY_SHIFT
    gt_key = np.where(keep[gt_cls] & ~rare[gt_cls], overlaps.gt_key, void_key)
    pred_key = np.where(keep[pred_cls] & ~rare[pred_cls], overlaps.pred_key, void_key)
    counts = _match_with_void(sum_pairs(gt_key, pred_key, overlaps.count), void_key, num_classes)
    is_thing = np.isin(kept, np.asarray(list(thing_ids), dtype=np.int64))
    return panoptic_quality(counts, thing_ids, classes=np.concatenate([kept[is_thing], kept[~is_thing]]))


def _match_with_void(overlaps: Overlaps, void_key: int, num_classes: int) -> PanopticCounts:
    counts = PanopticCounts.zeros(num_classes)
    if overlaps.count.size == 0:
        return counts
    gt_segs, g, gt_area, pred_segs, p, pred_area = segment_areas(overlaps)
    inter = overlaps.count
    # area of each predicted segment over ground-truth void, and of each ground-truth segment under void
    pred_on_void = np.zeros(len(pred_segs), dtype=np.int64)
    gt_under_void = np.zeros(len(gt_segs), dtype=np.int64)
    on_void = gt_segs[g] == void_key
    pred_on_void[p[on_void]] = inter[on_void]
    under_void = pred_segs[p] == void_key
    gt_under_void[g[under_void]] = inter[under_void]
    union = pred_area[p] - pred_on_void[p] + gt_area[g] - gt_under_void[g] - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        iou = inter.astype(np.float32) / union.astype(np.float32)  # float32, as torch divides int tensors
    gt_cls, pred_cls = gt_segs >> KEY_SHIFT, pred_segs >> KEY_SHIFT
    matched = (gt_segs[g] != void_key) & (gt_cls[g] == pred_cls[p]) & (iou > 0.5)
    g, p, iou = g[matched], p[matched], iou[matched].astype(np.float64)
    counts.tp += np.bincount(gt_cls[g], minlength=num_classes)
    counts.iou_sum += np.bincount(gt_cls[g], weights=iou, minlength=num_classes)
    fn = np.ones(len(gt_segs), dtype=bool)
    fn[g] = False
    fn &= gt_segs != void_key
    fn &= ~(gt_under_void.astype(np.float32) / gt_area.astype(np.float32) > 0.5)
    fp = np.ones(len(pred_segs), dtype=bool)
    fp[p] = False
    fp &= pred_segs != void_key
    fp &= ~(pred_on_void.astype(np.float32) / pred_area.astype(np.float32) > 0.5)
    counts.fn += np.bincount(gt_cls[fn], minlength=num_classes)
    counts.fp += np.bincount(pred_cls[fp], minlength=num_classes)
    return counts


# ------------------------------------------------------------------ a scene's test pixels -> metrics
def evaluate_label_maps(
    pred_semantics: list[np.ndarray],
    pred_instance: list[np.ndarray],
    gt_semantics: list[np.ndarray],
    gt_instance: list[np.ndarray],
    num_classes: int,
    thing_ids,
    protocol: str = "standard",
) -> dict:
    """mIoU, per-class IoU, PQ^scene (+ SQ, RQ, things, stuff) and mean per-image PQ of a list of frames.

    Each list holds one (H, W) int array per frame, already at the protocol's resolution with invalid pixels
    set to void in the ground truth. See :func:`evaluate_frames`.
    """
    frames = zip(pred_semantics, pred_instance, gt_semantics, gt_instance, strict=True)
    return evaluate_frames(frames, num_classes, thing_ids, protocol)


def evaluate_frames(
    frames: Iterable[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]],
    num_classes: int,
    thing_ids,
    protocol: str = "standard",
) -> dict:
    """Metrics of (pred semantics, pred instance, gt semantics, gt instance) frames, consumed one at a time:
    only the confusion matrix and the per-frame overlap tables are kept, never all pixels.

    Returns miou, per_class_iou (num_classes,), pq_scene, sq_scene, rq_scene, pq_scene_things,
    pq_scene_stuff, per_class_pq_scene (num_classes,), pq_image, the :func:`thing_counts`, the
    :func:`missed_things`, the :func:`boundary_breakdown` and the confusion matrix.
    """
    check_protocol(protocol)
    confusion = np.zeros((num_classes, num_classes), dtype=np.int64)
    interior = np.zeros_like(confusion)  # pixels off the true class boundaries only
    tables = []
    for pred_sem, pred_ins, gt_sem, gt_ins in frames:
        confusion += semantic_confusion(pred_sem, gt_sem, num_classes)
        off_boundary = ~class_boundary(gt_sem)
        interior += semantic_confusion(
            np.asarray(pred_sem)[off_boundary], np.asarray(gt_sem)[off_boundary], num_classes
        )
        tables.append(count_overlaps(pred_sem, pred_ins, gt_sem, gt_ins, num_classes, thing_ids))
    if protocol == "standard":
        miou, per_class_iou = mean_iou(confusion)
    else:
        miou, per_class_iou = panoptic_lifting_mean_iou(confusion)

    def pq_of(overlaps: Overlaps) -> dict:
        if protocol == "standard":
            return panoptic_quality(match_overlaps(overlaps, num_classes), thing_ids)
        return panoptic_lifting_pq_from_overlaps(overlaps, num_classes, thing_ids)

    merged = Overlaps.merge(tables)
    matched = match_overlaps(merged, num_classes)  # the standard matching, also for the thing counts
    scene_pq = panoptic_quality(matched, thing_ids) if protocol == "standard" else pq_of(merged)
    things = thing_counts(matched, thing_ids)
    things.update(missed_things(merged, thing_ids))
    per_image = [pq_of(t)["pq"] for t in tables]
    per_image = [v for v in per_image if np.isfinite(v)]  # frames whose pixels are all void have no PQ
    return {
        "miou": miou,
        "per_class_iou": per_class_iou,
        "pq_scene": scene_pq["pq"],
        "sq_scene": scene_pq["sq"],
        "rq_scene": scene_pq["rq"],
        "pq_scene_things": scene_pq["pq_things"],
        "pq_scene_stuff": scene_pq["pq_stuff"],
        "per_class_pq_scene": scene_pq["per_class_pq"],
        "pq_image": float(np.mean(per_image)) if per_image else float("nan"),
        **things,
        **boundary_breakdown(
            confusion, interior, mean_iou if protocol == "standard" else panoptic_lifting_mean_iou
        ),
        "confusion": confusion,
    }


def boundary_breakdown(confusion: np.ndarray, interior: np.ndarray, mean=mean_iou) -> dict:
    """How much of the labels' error is boundaries (:func:`~panolift.evaluate.metrics.class_boundary`)
    and how much classes: ``boundary_error_share``, the share of the wrongly labelled (non-void) pixels that
    lie on a true class boundary; ``boundary_pixel_share``, the share of all (non-void) pixels that do; and
    ``miou_interior``, the mIoU (``mean``: the protocol's) of the pixels off the boundaries. A lifted
    field whose errors are mostly on the boundaries gives each object the right class and draws its
    outline a pixel off; a class flipped over a whole object is interior error."""
    wrong = confusion.sum() - np.trace(confusion)
    wrong_inside = interior.sum() - np.trace(interior)
    total = confusion.sum()
    return {
        "boundary_error_share": float((wrong - wrong_inside) / wrong) if wrong else float("nan"),
        "boundary_pixel_share": float((total - interior.sum()) / total) if total else float("nan"),
        "miou_interior": float(mean(interior)[0]),
    }


def thing_counts(counts: PanopticCounts, thing_ids) -> dict:
    """Scene-level 3D thing instances: things_true (ground-truth instances seen in the frames),
    things_found (those matched by a predicted instance of their class at IoU > 0.5 over all frames
    together, whatever the protocol) and things_predicted (distinct predicted thing instances)."""
    things = np.asarray(sorted(thing_ids), dtype=np.int64)
    return {
        "things_true": int((counts.tp + counts.fn)[things].sum()),
        "things_found": int(counts.tp[things].sum()),
        "things_predicted": int((counts.tp + counts.fp)[things].sum()),
    }


THING_COUNTS = ("things_true", "things_found", "things_predicted")
BOUNDARY_KEYS = ("boundary_error_share", "boundary_pixel_share", "miou_interior")
MISSED_CAUSES = ("things_merged", "things_split", "things_wrong_class", "things_lost")
MERGED_SHARE = 0.25
"""A predicted segment with at least this share of its pixels on other true things merges them."""


def missed_things(overlaps: Overlaps, thing_ids) -> dict:
    """Why the true things that no prediction matches are missed (scene level, all frames together).

    For each unmatched true thing g of class c, in this order:

    - things_merged: one predicted segment of class c holds at least half of g and has at least
      ``MERGED_SHARE`` of its pixels on other true things (g shares an instance with its neighbours);
    - things_split: no segment of class c holds half of g, but together they do (g is cut in pieces);
    - things_wrong_class: at least half of g is predicted as other classes than c (void aside);
    - things_lost: the rest (mostly void, or one too-large segment spilling onto stuff, or too little
      predicted as anything).
    """
    things = np.asarray(sorted(thing_ids), dtype=np.int64)
    if overlaps.count.size == 0:
        return dict.fromkeys(MISSED_CAUSES, 0)
    gt_segs, g, gt_area, pred_segs, p, pred_area = segment_areas(overlaps)
    gt_cls, pred_cls = gt_segs >> KEY_SHIFT, pred_segs >> KEY_SHIFT
    inter = overlaps.count.astype(np.float64)
    gt_thing = np.isin(gt_cls, things)
    same = (gt_cls[g] == pred_cls[p]) & (pred_cls[p] != 0)
    other = (gt_cls[g] != pred_cls[p]) & (pred_cls[p] != 0)
    matched = np.zeros(len(gt_segs), dtype=bool)
    matched[g[matched_pairs(inter, gt_cls[g], pred_cls[p], gt_area[g], pred_area[p])[1]]] = True
    same_total = np.bincount(g, weights=np.where(same, inter, 0.0), minlength=len(gt_segs))
    other_total = np.bincount(g, weights=np.where(other, inter, 0.0), minlength=len(gt_segs))
    # the largest overlap with one same-class segment, and that segment (ascending order: largest last)
    order = np.argsort(np.where(same, inter, -1.0), kind="stable")
    best, best_pred = np.zeros(len(gt_segs)), np.zeros(len(gt_segs), dtype=np.int64)
    best[g[order]] = np.where(same[order], inter[order], 0.0)
    best_pred[g[order]] = p[order]
    on_things = np.bincount(p, weights=np.where(gt_thing[g], inter, 0.0), minlength=len(pred_segs))
    missed, half = gt_thing & ~matched, gt_area / 2.0
    holds = best >= half
    merged = holds & (on_things[best_pred] - best >= MERGED_SHARE * pred_area[best_pred])
    split = ~holds & (same_total >= half)
    wrong = ~holds & ~split & (other_total >= half)
    causes = (merged, split, wrong, ~merged & ~split & ~wrong)
    return {key: int((missed & cause).sum()) for key, cause in zip(MISSED_CAUSES, causes, strict=True)}
