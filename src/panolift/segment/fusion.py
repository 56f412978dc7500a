"""From Mask2Former queries to a panoptic map with per-pixel class distributions and confidences.

Three steps, each a function of tensors:

1. :func:`segments_from_queries`: keep the queries that are not "no object" and score above a threshold;
   map their COCO class distribution to the scene's classes (excluded categories get -inf logits, mapped
   probabilities are summed); soft mask = sigmoid(mask logits).
2. :func:`fuse_segments` (test-time augmentation): pool the segments of all runs, connect two segments when
   their soft IoU ``sum(min(a, b)) / sum(max(a, b))`` is at least 0.5, take connected components as clusters
   and average distributions and soft masks per cluster.
3. :func:`merge_panoptic`: Mask2Former's panoptic inference: score = max class probability; each pixel goes
   to ``argmax_k score_k * mask_k``; a segment survives when its mask reaches 0.5 there and at least 80% of
   its own area (mask >= 0.5) is left; stuff segments of one class become one segment. Per-pixel class
   distribution = the winning segment's; confidence = ``score * mask`` of the winner; void where nothing is.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass
class SegmentSet:
    """Soft segments of one image (or of a pool of runs)."""

    probs: torch.Tensor  # (num_segments, num_classes) class distribution; column 0 (void) is 0
    masks: torch.Tensor  # (num_segments, h, w) soft masks in [0, 1]

    def __len__(self) -> int:
        return int(self.probs.shape[0])


@dataclass
class PanopticResult:
    """A merged panoptic map (frame-local ids) and its per-pixel soft labels."""

    segments: torch.Tensor  # (H, W) int64 segment id 1..num_segments, 0 = void
    semantics: torch.Tensor  # (H, W) int64 class index, 0 = void
    instance: torch.Tensor  # (H, W) int64 thing instance id 1..num_instances, 0 = stuff or void
    probability: torch.Tensor  # (H, W, num_classes) class distribution; one-hot void where void
    confidence: torch.Tensor  # (H, W) score * mask of the winning segment, 0 where void


def segments_from_queries(
    class_logits: torch.Tensor,  # (num_queries, num_labels + 1), last column = "no object"
    mask_logits: torch.Tensor,  # (num_queries, h, w)
    class_map: torch.Tensor,  # (num_labels,) target class index, -1 = excluded
    num_classes: int,
    min_score: float = 0.8,
) -> SegmentSet:
    """Segments of one run: drop "no object" and low-score queries, map classes, sigmoid the masks.

    ``p = softmax(l)`` over all labels and "no object": a query is kept if ``argmax p`` is not "no object"
    and ``max p > min_score``. Its distribution over the scene's classes is
    ``q_k = sum_{c: map(c) = k} softmax(l')_c`` with ``l'_c = -inf`` for excluded c (no-object dropped), and
    it is kept only if ``max_k q_k > min_score`` too (as in the authors' panoptic inference).
    """
    num_labels = class_logits.shape[-1] - 1
    full = class_logits.softmax(-1)
    top, top_label = full.max(-1)
    keep = (top_label != num_labels) & (top > min_score)
    logits = class_logits[:, :num_labels].masked_fill(class_map.to(class_logits.device) < 0, float("-inf"))
    coco_probs = logits.softmax(-1)
    mapped = class_map.clamp_min(0).to(class_logits.device).expand_as(coco_probs)
    probs = torch.zeros(class_logits.shape[0], num_classes, dtype=coco_probs.dtype, device=coco_probs.device)
    probs.scatter_add_(1, mapped, coco_probs)  # excluded labels carry exactly 0 after their -inf logits
    keep &= probs.max(-1).values > min_score
    return SegmentSet(probs=probs[keep], masks=mask_logits[keep].sigmoid())


def compute_soft_iou(masks: torch.Tensor, max_elements: int = 1 << 25) -> torch.Tensor:
    """Pairwise soft IoU of soft masks.

    ``IoU(a, b) = sum_p min(a_p, b_p) / sum_p max(a_p, b_p)``, with ``max = a + b - min``.

    Args:
        masks: (num_segments, num_pixels) in [0, 1].
    Returns:
        (num_segments, num_segments); 0 where both masks are empty.
    """
    n, p = masks.shape
    inter = torch.empty(n, n, dtype=masks.dtype, device=masks.device)
    rows = max(1, max_elements // max(1, n * p))  # bound the (rows, n, p) broadcast
    for i in range(0, n, rows):
        inter[i : i + rows] = torch.minimum(masks[i : i + rows, None, :], masks[None, :, :]).sum(-1)
    sums = masks.sum(-1)
    union = sums[:, None] + sums[None, :] - inter
    return torch.where(union > 0, inter / union.clamp_min(1e-12), torch.zeros_like(inter))


def label_connected_components(adjacency: torch.Tensor) -> torch.Tensor:
    """Connected components of an undirected graph by min-label propagation.

    Args:
        adjacency: (n, n) bool, symmetric.
    Returns:
        (n,) int64 component index 0..num_components-1, numbered by each component's smallest member.
    """
    n = adjacency.shape[0]
    adjacency = adjacency | torch.eye(n, dtype=torch.bool, device=adjacency.device)
    labels = torch.arange(n, device=adjacency.device)
    sentinel = torch.full_like(labels, n)
    for _ in range(n):  # the graph's diameter bounds the number of rounds
        new = torch.where(adjacency, labels[None, :], sentinel[None, :]).min(-1).values
        if torch.equal(new, labels):
            break
        labels = new
    return torch.unique(labels, return_inverse=True)[1]


def fuse_segments(runs: list[SegmentSet], iou_threshold: float = 0.5) -> SegmentSet:
    """Pool the segments of all runs, cluster them by soft IoU >= ``iou_threshold`` (connected components)
    and average class distributions and soft masks within each cluster: ``m_C = mean_{s in C} m_s``."""
    probs = torch.cat([r.probs for r in runs])
    masks = torch.cat([r.masks for r in runs])
    if probs.shape[0] == 0:
        return SegmentSet(probs=probs, masks=masks)
    iou = compute_soft_iou(masks.flatten(1))
    cluster = label_connected_components(iou >= iou_threshold)
    num_clusters = int(cluster.max()) + 1
    counts = torch.bincount(cluster, minlength=num_clusters).to(probs.dtype)
    fused_probs = torch.zeros(num_clusters, probs.shape[1], dtype=probs.dtype, device=probs.device)
    fused_probs.index_add_(0, cluster, probs)
    fused_masks = torch.zeros(num_clusters, *masks.shape[1:], dtype=masks.dtype, device=masks.device)
    fused_masks.index_add_(0, cluster, masks)
    return SegmentSet(probs=fused_probs / counts[:, None], masks=fused_masks / counts[:, None, None])


def resize_masks(masks: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinear resize of (num_segments, h, w) soft masks to (height, width) ``size``."""
    if tuple(masks.shape[-2:]) == tuple(size) or masks.shape[0] == 0:
        return masks.new_zeros(masks.shape[0], *size) if masks.shape[0] == 0 else masks
    return F.interpolate(masks[None], size=size, mode="bilinear", align_corners=False)[0].clamp(0.0, 1.0)


def number_segments(
    survives: torch.Tensor, labels: torch.Tensor, thing_ids: tuple[int, ...]
) -> tuple[torch.Tensor, torch.Tensor]:
    """Frame-local ids in segment order: a new segment (and instance) per surviving thing, one segment per
    stuff class. Returns (num_segments,) segment ids and instance ids, 0 = dropped / not a thing."""
    n = survives.shape[0]
    segment_of = torch.zeros(n, dtype=torch.int64)
    instance_of = torch.zeros(n, dtype=torch.int64)
    stuff_segment: dict[int, int] = {}
    next_segment, next_instance = 1, 1
    things = set(thing_ids)
    labels_cpu = labels.cpu()  # one transfer instead of one per segment
    for k in torch.nonzero(survives.cpu()).flatten().tolist():
        cls = int(labels_cpu[k])
        if cls not in things and cls in stuff_segment:
            segment_of[k] = stuff_segment[cls]
            continue
        segment_of[k] = next_segment
        if cls in things:
            instance_of[k] = next_instance
            next_instance += 1
        else:
            stuff_segment[cls] = next_segment
        next_segment += 1
    return segment_of.to(survives.device), instance_of.to(survives.device)


def merge_panoptic(
    segments: SegmentSet,
    thing_ids: tuple[int, ...],
    overlap_threshold: float = 0.8,
    mask_threshold: float = 0.5,
) -> PanopticResult:
    """Mask2Former's panoptic merge of soft segments (masks at the resolution of the labels to make).

    ``owner(p) = argmax_k s_k m_k(p)`` with ``s_k = max_c q_k(c)``; segment k keeps the pixels it owns where
    ``m_k(p) >= mask_threshold`` and survives when ``|owner = k| / |m_k >= mask_threshold| >= overlap_threshold``
    (it keeps at least 80% of its area). Stuff segments of one class share one segment id. Per pixel:
    distribution ``q_owner``, confidence ``s_owner * m_owner(p)``; void (one-hot class 0, confidence 0)
    where no surviving segment covers the pixel.
    """
    probs, masks = segments.probs, segments.masks
    h, w = masks.shape[-2:]
    void = torch.zeros(h, w, dtype=torch.int64, device=masks.device)
    probability = torch.zeros(h, w, probs.shape[1], dtype=probs.dtype, device=masks.device)
    probability[..., 0] = 1.0
    if len(segments) == 0:
        return PanopticResult(
            void, void.clone(), void.clone(), probability, torch.zeros(h, w, device=masks.device)
        )
    scores, labels = probs.max(-1)
    best, owner = (scores[:, None, None] * masks).max(0)  # (h, w)
    inside = masks.gather(0, owner[None])[0] >= mask_threshold
    n = len(segments)
    area = torch.bincount(owner.flatten(), minlength=n)
    kept_area = torch.bincount(owner[inside], minlength=n)
    original = (masks >= mask_threshold).flatten(1).sum(-1)
    # a ratio, not area >= t * original: exactly 80% must survive whatever the rounding of t * original
    ratio = area.float() / original.clamp_min(1).float()
    survives = (kept_area > 0) & (original > 0) & (ratio >= overlap_threshold)
    segment_of, instance_of = number_segments(survives, labels, thing_ids)
    covered = inside & (segment_of[owner] > 0)
    seg_map = torch.where(covered, segment_of[owner], void)
    semantics = torch.where(covered, labels[owner], void)
    instance = torch.where(covered, instance_of[owner], void)
    probability = torch.where(covered[..., None], probs[owner], probability)
    confidence = torch.where(covered, best, torch.zeros_like(best))
    return PanopticResult(seg_map, semantics, instance, probability, confidence)
