"""A machine-label simulator: noisy per-view 2D panoptic labels from ground truth, like a 2D segmenter's.

Each view draws its own errors, independently of every other view, so that consensus in 3D can undo them:
segment-level class flips to plausible partners, missed small objects (void), instance splits and merges,
smooth boundary displacement, instance ids that are random in every view, peaked over-confident class
distributions, and a test-time-augmentation-like confidence that is lower on wrong segments on average
(while the confidence without TTA stays high everywhere).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, fields

import numpy as np
from scipy import ndimage

from panolift.scene import ClassSet, Scene, SceneError, SceneWriter, resize_bilinear, segments_from_labels

from .config import LabelNoiseConfig

log = logging.getLogger(__name__)

# Confusions a COCO-trained segmenter makes between reduced-ScanNet classes (by class name).
PLAUSIBLE_PARTNERS: dict[str, tuple[str, ...]] = {
    "wall": ("door", "curtain"), "floor": ("otherprop",), "ceiling": ("wall",),
    "cabinet": ("shelves", "counter", "refrigerator"), "bed": ("sofa",), "chair": ("sofa", "otherprop"),
    "sofa": ("chair", "bed"), "table": ("counter", "cabinet"), "door": ("wall", "cabinet"),
    "window": ("curtain", "television"), "counter": ("table", "cabinet"), "shelves": ("cabinet",),
    "curtain": ("window",), "refrigerator": ("cabinet", "door"), "television": ("window", "otherprop"),
    "person": ("otherprop",), "toilet": ("sink", "chair"), "sink": ("counter", "toilet"),
    "lamp": ("otherprop",), "bag": ("otherprop", "chair"), "otherprop": ("bag", "lamp"),
}  # fmt: skip
STRUCTURE_CLASSES = ("wall", "floor", "ceiling")


@dataclass
class ViewLabels:
    """Simulated labels of one view (all at the view's resolution)."""

    semantics: np.ndarray  # (H, W) class index, 0 = void
    instance: np.ndarray  # (H, W) 2D instance id (random per view), 0 = stuff or void
    segments: np.ndarray  # (H, W) segment id, 0 = void
    probability: np.ndarray  # (H, W, num_classes) class distribution
    confidence: np.ndarray  # (H, W) TTA-like confidence
    confidence_notta: np.ndarray  # (H, W) confidence without TTA


@dataclass
class MachineLabelStats:
    """What the simulator did, counted over (ground-truth segment, view) pairs."""

    segments: int = 0
    flipped: int = 0
    missed: int = 0
    split: int = 0
    merged: int = 0

    def add(self, other: MachineLabelStats) -> None:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))


def partner_ids(class_set: ClassSet) -> list[np.ndarray]:
    """Per class id, the ids of its plausible confusion partners present in ``class_set`` (may be empty)."""
    index = {n: i for i, n in enumerate(class_set.names)}
    return [
        np.array([index[p] for p in PLAUSIBLE_PARTNERS.get(name, ()) if p in index], dtype=np.int64)
        for name in class_set.names
    ]


def find_segments(
    semantics: np.ndarray, instance: np.ndarray, class_set: ClassSet
) -> tuple[np.ndarray, np.ndarray]:
    """Ground-truth segments: one per thing instance, one per connected region of a stuff class.

    Returns a (H, W) segment map (0 = void, 1..n) and the (n + 1,) class of each segment (index 0 = void).
    """
    seg = np.zeros(semantics.shape, dtype=np.int64)
    classes = [0]
    for k in np.unique(semantics):
        if k == 0:
            continue
        mask = semantics == k
        if class_set.is_thing(int(k)):
            for i in np.unique(instance[mask]):
                region = mask & (instance == i)
                parts = [region] if i > 0 else _components(region)
                for part in parts:
                    classes.append(int(k))
                    seg[part] = len(classes) - 1
        else:
            for part in _components(mask):
                classes.append(int(k))
                seg[part] = len(classes) - 1
    return seg, np.asarray(classes, dtype=np.int64)


def _components(mask: np.ndarray) -> list[np.ndarray]:
    labels, n = ndimage.label(mask)
    return [labels == i for i in range(1, n + 1)]


def touching_pairs(seg: np.ndarray) -> np.ndarray:
    """(num_pairs, 2) distinct pairs a < b of nonzero segment ids that share a 4-neighbour edge."""
    a = np.concatenate([seg[:, :-1].ravel(), seg[:-1, :].ravel()])
    b = np.concatenate([seg[:, 1:].ravel(), seg[1:, :].ravel()])
    keep = (a != b) & (a > 0) & (b > 0)
    pairs = np.sort(np.stack([a[keep], b[keep]], axis=1), axis=1)
    return np.unique(pairs, axis=0) if len(pairs) else pairs.reshape(0, 2)


def displace_boundaries(
    shape: tuple[int, int], noise: LabelNoiseConfig, rng: np.random.Generator
) -> np.ndarray:
    """(H, W) flat source index per pixel: pixel + a smooth random offset (std boundary_noise * W), clipped.

    Resampling labels through it wobbles boundaries by a few pixels and leaves interiors untouched.
    """
    h, w = shape
    cells = max(2, noise.boundary_noise_cells)
    coarse = rng.normal(0.0, noise.boundary_noise * w, size=(max(2, cells * h // w), cells, 2))
    offset = resize_bilinear(coarse.astype(np.float32), (w, h))
    ys = np.clip(np.rint(np.arange(h)[:, None] + offset[..., 1]), 0, h - 1).astype(np.int64)
    xs = np.clip(np.rint(np.arange(w)[None, :] + offset[..., 0]), 0, w - 1).astype(np.int64)
    return ys * w + xs


def _union_find_groups(n: int, merges: list[tuple[int, int]]) -> np.ndarray:
    parent = np.arange(n)

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for a, b in merges:
        parent[root(a)] = root(b)
    return np.array([root(i) for i in range(n)])


def _decide_classes(
    gt_class: np.ndarray,
    area: np.ndarray,
    num_pixels: int,
    class_set: ClassSet,
    noise: LabelNoiseConfig,
    present: np.ndarray,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per segment (index 0 = void): predicted class, missed?, flipped? Each drawn independently.

    A flip picks partner k with probability proportional to 1 (k in ``present``) or absent_partner_weight."""
    n = len(gt_class)
    partners = partner_ids(class_set)
    structure_ids = [i for i, name in enumerate(class_set.names) if name in STRUCTURE_CLASSES]
    structure = np.isin(gt_class, structure_ids)
    u_miss, u_flip, u_pick = rng.random(n), rng.random(n), rng.random(n)
    small = (area < noise.small_area * num_pixels) & ~structure
    missed = small & (u_miss < noise.miss_small_prob)
    has_partner = np.array([len(partners[k]) > 0 for k in gt_class])
    flip_prob = np.where(structure, noise.structure_flip_prob, noise.flip_prob)
    flipped = ~missed & has_partner & (u_flip < flip_prob)
    missed[0] = flipped[0] = False
    pred = gt_class.copy()
    for i in np.flatnonzero(flipped):
        cand = partners[gt_class[i]]
        weight = np.where(present[cand], 1.0, noise.absent_partner_weight)
        cdf = np.cumsum(weight) / max(weight.sum(), 1e-12)
        pred[i] = cand[min(int(np.searchsorted(cdf, u_pick[i], side="right")), len(cand) - 1)]
    pred[missed] = 0
    return pred, missed, flipped


def _instance_map(
    seg: np.ndarray,
    pred: np.ndarray,
    area: np.ndarray,
    class_set: ClassSet,
    noise: LabelNoiseConfig,
    rng: np.random.Generator,
) -> tuple[np.ndarray, int, int]:
    """(H, W) random 2D instance ids for pixels predicted as things (merges and splits applied), #split, #merged."""
    n = len(pred)
    thing = np.array([k > 0 and class_set.is_thing(int(k)) for k in pred])
    pairs = touching_pairs(seg)
    merges = [
        (int(a), int(b))
        for (a, b), u in zip(pairs, rng.random(len(pairs)), strict=True)
        if thing[a] and pred[a] == pred[b] and u < noise.merge_prob
    ]
    group = _union_find_groups(n, merges)
    group_px = np.where(thing[seg], group[seg], -1)
    num_split, next_group = 0, n
    big = thing & (area >= 2.0 * noise.small_area * seg.size)
    u_split, angle = rng.random(n), rng.uniform(0.0, np.pi, n)
    for i in np.flatnonzero(big & (u_split < noise.split_prob)):
        ys, xs = np.nonzero(seg == i)
        side = (xs - xs.mean()) * np.cos(angle[i]) + (ys - ys.mean()) * np.sin(angle[i]) > 0
        group_px[ys[side], xs[side]] = next_group
        next_group += 1
        num_split += 1
    groups = np.unique(group_px[group_px >= 0])
    ids = rng.choice(noise.max_instance_id, size=len(groups), replace=False) + 1
    lookup = np.zeros(next_group, dtype=np.int64)
    lookup[groups] = ids
    instance = np.where(group_px >= 0, lookup[np.maximum(group_px, 0)], 0)
    return instance, num_split, len(merges)


def _segment_distributions(
    gt_class: np.ndarray,
    pred: np.ndarray,
    num_classes: int,
    partners: list[np.ndarray],
    noise: LabelNoiseConfig,
    rng: np.random.Generator,
) -> np.ndarray:
    """(n, num_classes) peaked distributions: peak ~ U(peak) on the predicted class; a wrong segment gives
    ``true_class_share`` of the rest to the true class; the remainder goes to partners and two random classes."""
    n = len(pred)
    out = np.zeros((n, num_classes))
    out[:, 0] = 1.0  # void segments (missed pixels) carry no class evidence
    peak = rng.uniform(*noise.peak, n)
    extra = rng.integers(1, num_classes, size=(n, 2))
    for i in np.flatnonzero(pred > 0):
        rest = 1.0 - peak[i]
        dist = np.zeros(num_classes)
        dist[pred[i]] = peak[i]
        if pred[i] != gt_class[i]:
            dist[gt_class[i]] += noise.true_class_share * rest
            rest *= 1.0 - noise.true_class_share
        others = np.concatenate([partners[pred[i]], extra[i]])
        np.add.at(dist, others, rest * rng.dirichlet(np.ones(len(others))))
        out[i] = dist
    return out


def _boundary_falloff(segments: np.ndarray, depth_px: float = 1.5) -> np.ndarray:
    """(H, W) exp(-d / depth_px) with d the distance in pixels to the nearest segment boundary."""
    edge = np.zeros(segments.shape, dtype=bool)
    dx = segments[:, 1:] != segments[:, :-1]
    dy = segments[1:, :] != segments[:-1, :]
    edge[:, 1:] |= dx
    edge[:, :-1] |= dx
    edge[1:, :] |= dy
    edge[:-1, :] |= dy
    if not edge.any():
        return np.zeros(segments.shape)
    return np.exp(-ndimage.distance_transform_edt(~edge) / depth_px)


def simulate_view(
    semantics: np.ndarray,
    instance: np.ndarray,
    class_set: ClassSet,
    noise: LabelNoiseConfig,
    rng: np.random.Generator,
    present: np.ndarray | None = None,
) -> tuple[ViewLabels, MachineLabelStats]:
    """Noisy machine labels of one view from its ground truth (semantics, instance), both (H, W).

    ``present``: (num_classes,) bool, the classes of the whole scene's ground truth (default: this view's).
    """
    seg, gt_class = find_segments(semantics, instance, class_set)
    area = np.bincount(seg.ravel(), minlength=len(gt_class))
    if present is None:
        present = np.bincount(gt_class, minlength=class_set.num_classes) > 0
    pred, missed, flipped = _decide_classes(gt_class, area, seg.size, class_set, noise, present, rng)
    inst_px, num_split, num_merged = _instance_map(seg, pred, area, class_set, noise, rng)
    probs = _segment_distributions(gt_class, pred, class_set.num_classes, partner_ids(class_set), noise, rng)
    correct = pred == gt_class
    conf_tta = np.where(
        correct,
        rng.uniform(*noise.confidence_correct, len(pred)),
        rng.uniform(*noise.confidence_wrong, len(pred)),
    )
    conf_notta = rng.uniform(*noise.confidence_notta, len(pred))
    conf_tta[pred == 0] = conf_notta[pred == 0] = 0.0
    # One resampling moves every label map together, so classes, instances and confidences stay aligned.
    source = displace_boundaries(seg.shape, noise, rng)
    seg_w = seg.ravel()[source]
    sem_out = pred[seg_w]
    inst_out = inst_px.ravel()[source]
    segments = segments_from_labels(sem_out, inst_out)
    falloff = _boundary_falloff(segments)
    confidence = conf_tta[seg_w] * (1.0 - noise.boundary_confidence_dip * falloff)
    confidence_notta = conf_notta[seg_w] * (1.0 - 0.25 * noise.boundary_confidence_dip * falloff)
    labels = ViewLabels(
        semantics=sem_out,
        instance=inst_out,
        segments=segments,
        probability=probs[seg_w].astype(np.float32),
        confidence=confidence.astype(np.float32),
        confidence_notta=confidence_notta.astype(np.float32),
    )
    stats = MachineLabelStats(len(gt_class) - 1, int(flipped.sum()), int(missed.sum()), num_split, num_merged)
    return labels, stats


def scene_classes(scene: Scene) -> np.ndarray:
    """(num_classes,) bool: the classes that occur in any frame's ground truth."""
    present = np.zeros(scene.class_set.num_classes, dtype=bool)
    for name in scene.frame_names:
        gt = scene.ground_truth(name)
        if gt is None:
            raise SceneError(
                f"{scene.root / 'rs_semantics' / (name + '.png')}: no ground truth to simulate labels from"
            )
        present[np.unique(gt.semantics)] = True
    return present


def simulate_machine_labels(
    scene: Scene,
    out_writer: SceneWriter,
    noise: LabelNoiseConfig,
    seed: int,
    progress: Callable[[int], None] | None = None,
) -> MachineLabelStats:
    """Write simulated m2f_* labels (TTA and no-TTA) for every frame of a scene with ground truth.

    Frame i draws from its own generator seeded by (seed, i), so views are independent and the output is
    deterministic per seed. The no-TTA labels equal the TTA labels; only their confidence differs
    (over-confident). ``progress`` is called with 1 after each frame.
    """
    if scene.size != scene.native_size:
        raise SceneError(
            f"{scene.root}: simulate labels at the native size {scene.native_size}, not {scene.size}"
        )
    present = scene_classes(scene)
    total = MachineLabelStats()
    for index, name in enumerate(scene.frame_names):
        gt = scene.ground_truth(name)
        rng = np.random.default_rng([seed, index, 0x5EED])
        labels, stats = simulate_view(gt.semantics, gt.instance, scene.class_set, noise, rng, present)
        out_writer.write_machine_labels(
            name,
            labels.semantics,
            labels.instance,
            segments=labels.segments,
            probability=labels.probability,
            confidence=labels.confidence,
            confidence_notta=labels.confidence_notta,
            notta_semantics=labels.semantics,
            notta_instance=labels.instance,
        )
        total.add(stats)
        if progress is not None:
            progress(1)
    log.info("synth: simulated labels for %d frames: %s", len(scene.frame_names), total)
    return total
