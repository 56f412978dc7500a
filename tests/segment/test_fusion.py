"""TTA fusion and the panoptic merge, on hand-made segment sets, against slow reference implementations."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.sparse.csgraph import connected_components

from panolift.scene import SCANNET21
from panolift.segment import (
    COCO_PANOPTIC_CATEGORIES,
    PanopticLabeler,
    SegmentConfig,
    SegmentSet,
    compute_soft_iou,
    fuse_segments,
    label_connected_components,
    map_coco_to_class_set,
    merge_panoptic,
    segments_from_queries,
)

C = SCANNET21.num_classes
WALL, FLOOR, CHAIR, SOFA, TABLE = (
    SCANNET21.names.index(n) for n in ("wall", "floor", "chair", "sofa", "table")
)


def one_hot(k: int, p: float = 1.0) -> torch.Tensor:
    """A class distribution with ``p`` on class k and the rest on 'otherprop'."""
    q = torch.zeros(C)
    q[k] = p
    q[C - 1] += 1.0 - p
    return q


def box(h=12, w=16, y0=0, y1=12, x0=0, x1=16, value=1.0) -> torch.Tensor:
    m = torch.zeros(h, w)
    m[y0:y1, x0:x1] = value
    return m


def segset(*segments: tuple[torch.Tensor, torch.Tensor]) -> SegmentSet:
    return SegmentSet(torch.stack([q for q, _ in segments]), torch.stack([m for _, m in segments]))


# ---------------------------------------------------------------- reference implementations (slow, obvious)
def soft_iou_reference(masks: torch.Tensor) -> torch.Tensor:
    n = masks.shape[0]
    out = torch.zeros(n, n)
    for i in range(n):
        for j in range(n):
            union = torch.maximum(masks[i], masks[j]).sum()
            out[i, j] = torch.minimum(masks[i], masks[j]).sum() / union if union > 0 else 0.0
    return out


def merge_reference(probs, masks, thing_ids, overlap=0.8, mask_threshold=0.5):
    """Mask2Former's panoptic inference loop, one segment at a time."""
    scores, labels = probs.max(-1)
    owner = (scores[:, None, None] * masks).argmax(0)
    seg = torch.zeros(masks.shape[1:], dtype=torch.int64)
    semantics = torch.zeros_like(seg)
    next_id, stuff = 0, {}
    for k in range(len(probs)):
        cls = int(labels[k])
        area = int((owner == k).sum())
        original = int((masks[k] >= mask_threshold).sum())
        region = (owner == k) & (masks[k] >= mask_threshold)
        if area == 0 or original == 0 or region.sum() == 0 or area / original < overlap:
            continue
        if cls not in thing_ids and cls in stuff:
            seg[region] = stuff[cls]
        else:
            next_id += 1
            seg[region] = next_id
            if cls not in thing_ids:
                stuff[cls] = next_id
        semantics[region] = cls
    return seg, semantics


# ---------------------------------------------------------------- queries -> segments
def test_segments_from_queries_drops_no_object_maps_and_sums():
    names = COCO_PANOPTIC_CATEGORIES
    class_map = map_coco_to_class_set(names, SCANNET21)
    logits = torch.full((4, 134), -20.0)
    logits[0, names.index("backpack")] = 5.0  # backpack + handbag -> bag, summed
    logits[0, names.index("handbag")] = 5.0
    logits[1, 133] = 10.0  # "no object"
    logits[2, names.index("giraffe")] = 10.0  # excluded: its mass goes to the mapped classes
    logits[2, names.index("chair")] = 2.0
    logits[3, names.index("chair")] = 0.5  # too unsure
    logits[3, names.index("couch")] = 0.5
    masks = torch.randn(4, 5, 6)
    segs = segments_from_queries(logits, masks, class_map, C, min_score=0.0)
    assert len(segs) == 3  # the "no object" query is gone
    bag = SCANNET21.names.index("bag")
    assert segs.probs[0, bag] == pytest.approx(1.0, abs=1e-6)
    assert segs.probs[1, CHAIR] == pytest.approx(1.0, abs=1e-6)
    assert torch.allclose(segs.probs.sum(-1), torch.ones(3))
    assert (segs.probs[:, 0] == 0).all()
    assert torch.allclose(segs.masks[0], masks[0].sigmoid())
    strict = segments_from_queries(logits, masks, class_map, C, min_score=0.8)
    assert len(strict) == 1  # the giraffe query's COCO score is high, but only bag beats 0.8 in both tests


# ---------------------------------------------------------------- clustering
def test_soft_iou_matches_reference():
    masks = torch.rand(7, 40)
    masks[3] = 0.0
    assert torch.allclose(compute_soft_iou(masks, max_elements=100), soft_iou_reference(masks), atol=1e-6)
    assert torch.allclose(compute_soft_iou(masks).diagonal()[[0, 1, 2, 4]], torch.ones(4))


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 12), st.floats(0.0, 0.6), st.integers(0, 10_000))
def test_connected_components_match_scipy(n, density, seed):
    g = torch.Generator().manual_seed(seed)
    adj = torch.rand(n, n, generator=g) < density
    adj = adj | adj.T
    ours = label_connected_components(adj).numpy()
    count, theirs = connected_components(adj.numpy().astype(np.int32), directed=False)
    assert ours.max() + 1 == count
    # the same partition: a bijection between labels
    pairs = set(zip(ours.tolist(), theirs.tolist(), strict=True))
    assert len(pairs) == count


def test_agreeing_runs_make_one_cluster_per_object():
    runs = []
    for r in range(13):
        jitter = r % 2  # the runs agree up to a pixel
        runs.append(segset(
            (one_hot(CHAIR, 0.9), box(y0=2, y1=8, x0=2 + jitter, x1=8 + jitter)),
            (one_hot(WALL, 0.95), box(y0=0, y1=12, x0=10, x1=16)),
        ))  # fmt: skip
    fused = fuse_segments(runs)
    assert len(fused) == 2
    assert torch.allclose(fused.probs[0], one_hot(CHAIR, 0.9)) and torch.allclose(
        fused.probs[1], one_hot(WALL, 0.95)
    )
    assert fused.masks[0, 4, 5] == 1.0 and 0.4 < fused.masks[0, 4, 2] < 0.6  # the jittered column is half on


def test_disjoint_or_weakly_overlapping_segments_stay_apart():
    a = (one_hot(CHAIR), box(x0=0, x1=6))
    b = (one_hot(CHAIR), box(x0=4, x1=10))  # IoU 2/10 with a
    fused = fuse_segments([segset(a), segset(b)])
    assert len(fused) == 2
    chained = fuse_segments(
        [segset(a), segset((one_hot(CHAIR), box(x0=1, x1=7))), segset((one_hot(CHAIR), box(x0=2, x1=8)))]
    )
    assert len(chained) == 1  # a ~ middle ~ last: connected components, not cliques


def test_flipped_masks_land_back_in_place():
    """A colour-rule segmenter sees a red box left of centre; the flipped run sees it on the right. After
    undoing the flip the 13 runs agree: one chair, where the box is."""

    class RedBoxSegmenter:  # a hand-made 'network': query 0 = red pixels (chair), query 1 = the rest (wall)
        device = torch.device("cpu")
        label_names = list(COCO_PANOPTIC_CATEGORIES)

        def predict(self, images):
            red = (images[:, 0] - images[:, 1] > 0.3).float()
            red = torch.nn.functional.avg_pool2d(red[:, None], 2)[:, 0]  # masks at half resolution
            masks = torch.stack([red, 1.0 - red], dim=1) * 20.0 - 10.0
            logits = torch.full((images.shape[0], 2, 134), -10.0)
            logits[:, 0, COCO_PANOPTIC_CATEGORIES.index("chair")] = 10.0
            logits[:, 1, COCO_PANOPTIC_CATEGORIES.index("wall-other-merged")] = 10.0
            return logits, masks

    image = torch.full((1, 3, 24, 32), 0.5)
    image[:, :, 6:18, 4:12] = torch.tensor([0.9, 0.1, 0.1]).view(1, 3, 1, 1)
    labeler = PanopticLabeler(RedBoxSegmenter(), SCANNET21, SegmentConfig(tta=True))
    (labels,) = labeler.label_images(image)
    fused = labels.tta
    assert set(fused.instance.unique().tolist()) == {0, 1}
    chair = fused.semantics == CHAIR
    assert chair[8:16, 6:10].all() and not chair[:, 16:].any()  # not mirrored to the right
    assert (fused.semantics[:, 20:] == WALL).all()
    # the single run agrees but for a few boundary pixels (blurred runs move edges)
    assert (labels.notta.semantics != fused.semantics).float().mean() < 0.05


# ---------------------------------------------------------------- merge
def test_confidence_is_lower_where_runs_disagree():
    runs = []
    for r in range(13):
        width = 8 if r < 6 else 12  # 6 runs end the table at column 8, 7 runs at column 12
        label = TABLE if r < 10 else SOFA
        runs.append(segset((one_hot(label, 0.9), box(x0=0, x1=width))))
    fused = fuse_segments(runs)
    assert len(fused) == 1
    merged = merge_panoptic(fused, SCANNET21.thing_ids)
    agree, disagree = merged.confidence[:, :8], merged.confidence[:, 8:12]
    assert (merged.semantics[:, :8] == TABLE).all()
    assert agree.min() > disagree.max() > 0
    # class disagreement lowers the score too: 10 of 13 runs say table
    assert agree.max() == pytest.approx(0.9 * 10 / 13, abs=1e-5)
    assert merged.probability[0, 0, SOFA] == pytest.approx(0.9 * 3 / 13, abs=1e-5)
    # where no segment reaches 0.5 the pixel is void, with zero confidence and a void distribution
    assert (merged.semantics[:, 12:] == 0).all() and (merged.confidence[:, 12:] == 0).all()
    assert (merged.probability[:, 12:, 0] == 1).all()


@pytest.mark.parametrize("covered_columns, kept", [(3, False), (2, True), (1, True)])
def test_segment_with_less_than_80_percent_left_is_dropped(covered_columns, kept):
    # a confident chair covers the left; a less confident sofa (10 columns) loses the overlapped columns
    chair = (one_hot(CHAIR, 0.95), box(x0=0, x1=6))
    sofa = (one_hot(SOFA, 0.9), box(x0=6 - covered_columns, x1=16 - covered_columns))
    merged = merge_panoptic(segset(chair, sofa), SCANNET21.thing_ids)
    assert ((merged.semantics == SOFA).any()) == kept  # 70% left: dropped; 80% or 90% left: kept
    assert (merged.semantics[:, :6] == CHAIR).all()
    assert set(merged.instance.unique().tolist()) == ({0, 1, 2} if kept else {0, 1})


def test_stuff_of_one_class_is_merged_and_things_are_not():
    merged = merge_panoptic(
        segset(
            (one_hot(WALL), box(x0=0, x1=4)), (one_hot(WALL), box(x0=12, x1=16)),
            (one_hot(CHAIR), box(x0=4, x1=8)), (one_hot(CHAIR), box(x0=8, x1=12)),
        ),
        SCANNET21.thing_ids,
    )  # fmt: skip
    seg = merged.segments
    assert seg[0, 0] == seg[0, 15] != 0  # one wall segment
    assert len({int(seg[0, 0]), int(seg[0, 5]), int(seg[0, 9])}) == 3
    assert merged.instance[0, 0] == 0 and {int(merged.instance[0, 5]), int(merged.instance[0, 9])} == {1, 2}


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 8), st.integers(0, 10_000))
def test_merge_matches_reference(n, seed):
    g = torch.Generator().manual_seed(seed)
    probs = torch.rand(n, C, generator=g) ** 4
    probs[:, 0] = 0
    probs = probs / probs.sum(-1, keepdim=True)
    masks = torch.nn.functional.interpolate(
        torch.rand(1, n, 3, 4, generator=g), size=(9, 12), mode="bilinear"
    )[0]
    merged = merge_panoptic(SegmentSet(probs, masks), SCANNET21.thing_ids)
    seg, semantics = merge_reference(probs, masks, set(SCANNET21.thing_ids))
    assert torch.equal(merged.semantics, semantics)
    assert torch.equal(merged.segments, seg)
    assert torch.allclose(merged.probability.sum(-1), torch.ones(9, 12), atol=1e-5)


def test_empty_runs_give_a_void_frame():
    empty = SegmentSet(torch.zeros(0, C), torch.zeros(0, 6, 8))
    merged = merge_panoptic(fuse_segments([empty, empty]), SCANNET21.thing_ids)
    assert (
        merged.semantics.shape == (6, 8) and (merged.semantics == 0).all() and (merged.confidence == 0).all()
    )
