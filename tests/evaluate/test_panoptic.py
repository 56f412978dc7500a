"""Panoptic quality: hand-counted cases, PQ^scene vs per-image PQ, invariances, properties, slow references."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from panolift.evaluate.panoptic import match_segments, panoptic_quality
from panolift.evaluate.protocols import evaluate_label_maps

WALL, CHAIR = 1, 5
THINGS = (4, 5)
C = 6


def test_pq_hand_counted_single_image():
    w, c = WALL, CHAIR
    gt_sem = np.array([[w, w, c, c], [w, w, c, c], [w, w, c, c], [w, w, c, c]])
    gt_ins = np.array([[0, 0, 1, 1], [0, 0, 1, 1], [0, 0, 2, 2], [0, 0, 2, 2]])
    pred_sem = np.array([[w, w, c, c], [w, w, c, c], [w, w, c, w], [w, w, w, w]])
    pred_ins = np.array([[3, 3, 9, 9], [3, 3, 9, 9], [0, 0, 9, 0], [0, 0, 0, 0]])  # stuff ids are ignored
    counts = match_segments(pred_sem, pred_ins, gt_sem, gt_ins, C, THINGS)
    # wall: 8 px in gt, 11 in pred, all 8 shared -> IoU 8/11 (TP). chair 9 (5 px) vs chair 1 (4 px): 4/5 (TP);
    # chair 2 overlaps chair 9 by 1 px: IoU 1/8 -> FN.
    assert counts.tp[WALL] == 1 and counts.fp[WALL] == 0 and counts.fn[WALL] == 0
    assert counts.tp[CHAIR] == 1 and counts.fp[CHAIR] == 0 and counts.fn[CHAIR] == 1
    assert counts.iou_sum[WALL] == pytest.approx(8 / 11) and counts.iou_sum[CHAIR] == pytest.approx(0.8)
    r = panoptic_quality(counts, THINGS)
    assert r["per_class_pq"][CHAIR] == pytest.approx(0.8 / 1.5)
    assert r["per_class_sq"][CHAIR] == pytest.approx(0.8)
    assert r["per_class_rq"][CHAIR] == pytest.approx(1 / 1.5)
    assert r["pq"] == pytest.approx((8 / 11 + 0.8 / 1.5) / 2)
    assert r["sq"] == pytest.approx((8 / 11 + 0.8) / 2)
    assert r["rq"] == pytest.approx((1 + 1 / 1.5) / 2)
    assert r["pq_things"] == pytest.approx(0.8 / 1.5) and r["pq_stuff"] == pytest.approx(8 / 11)


def test_iou_of_exactly_half_is_not_a_match():
    gt_sem = np.array([CHAIR, CHAIR, WALL, WALL])
    gt_ins = np.array([1, 1, 0, 0])
    pred_sem = np.array([CHAIR, WALL, WALL, WALL])
    counts = match_segments(pred_sem, np.array([1, 0, 0, 0]), gt_sem, gt_ins, C, THINGS)
    assert counts.tp[CHAIR] == 0 and counts.fn[CHAIR] == 1 and counts.fp[CHAIR] == 1  # IoU = 1/2
    assert counts.tp[WALL] == 1  # IoU = 2/3


def test_predicted_void_is_no_segment_but_costs_the_ground_truth():
    gt_sem = np.array([WALL, WALL, WALL, CHAIR])
    pred_sem = np.array([WALL, WALL, 0, CHAIR])
    ins = np.array([0, 0, 0, 4])
    counts = match_segments(pred_sem, ins, gt_sem, ins, C, THINGS)
    assert counts.fp[0] == 0 and counts.tp[0] == 0
    assert counts.iou_sum[WALL] == pytest.approx(2 / 3)


def _two_views_with_id_switch():
    # two 2x2 views of the same chair (left column, gt id 7) and wall; the prediction calls the chair 1 in
    # the first view and 2 in the second
    gt_sem = [np.array([[CHAIR, WALL], [CHAIR, WALL]])] * 2
    gt_ins = [np.array([[7, 0], [7, 0]])] * 2
    pred_ins = [np.array([[1, 0], [1, 0]]), np.array([[2, 0], [2, 0]])]
    return list(gt_sem), pred_ins, list(gt_sem), list(gt_ins)


def test_id_switch_keeps_per_image_pq_but_drops_pq_scene():
    pred_sem, pred_ins, gt_sem, gt_ins = _two_views_with_id_switch()
    m = evaluate_label_maps(pred_sem, pred_ins, gt_sem, gt_ins, C, THINGS, "standard")
    assert m["pq_image"] == 1.0
    assert m["miou"] == 1.0
    # across the scene gt chair 7 has 4 px; predicted chairs 1 and 2 have 2 px each: IoU 1/2, no match
    # -> chair PQ = 0 (1 FN, 2 FP), wall PQ = 1
    assert m["pq_scene"] == pytest.approx(0.5)
    assert m["pq_scene_things"] == 0.0 and m["pq_scene_stuff"] == 1.0
    assert m["rq_scene"] == pytest.approx(0.5) and m["sq_scene"] == pytest.approx(0.5)
    # consistent ids fix it
    m_ok = evaluate_label_maps(pred_sem, [pred_ins[0]] * 2, gt_sem, gt_ins, C, THINGS, "standard")
    assert m_ok["pq_scene"] == 1.0


def test_perfect_prediction_scores_one_under_both_protocols():
    rng = np.random.default_rng(3)
    sem = [rng.integers(0, C, (8, 8)) for _ in range(3)]
    ins = [rng.integers(0, 4, (8, 8)) for _ in range(3)]
    for protocol in ("standard", "panoptic-lifting"):
        m = evaluate_label_maps(sem, ins, sem, ins, C, THINGS, protocol)
        for key in (
            "miou",
            "pq_scene",
            "sq_scene",
            "rq_scene",
            "pq_scene_things",
            "pq_scene_stuff",
            "pq_image",
        ):
            assert m[key] == pytest.approx(1.0), (protocol, key)


# ------------------------------------------------------------------ slow, obvious reference
def reference_pq(pred_sem, pred_ins, gt_sem, gt_ins, num_classes, things):
    """Segments as pixel sets; every same-class pair compared; plain IoU > 1/2."""
    valid = gt_sem.ravel() != 0
    ps, pi = pred_sem.ravel()[valid], pred_ins.ravel()[valid]
    gs, gi = gt_sem.ravel()[valid], gt_ins.ravel()[valid]

    def segments(sem, ins):
        segs = {}
        for idx, (k, i) in enumerate(zip(sem.tolist(), ins.tolist(), strict=True)):
            if k == 0:
                continue
            segs.setdefault((k, i if k in things else 0), set()).add(idx)
        return segs

    pred, gt = segments(ps, pi), segments(gs, gi)
    stats = {k: [0.0, 0, 0, 0] for k in range(num_classes)}  # iou_sum, tp, fp, fn
    matched_p = set()
    for gkey, gpix in gt.items():
        hit = None
        for pkey, ppix in pred.items():
            if pkey[0] == gkey[0] and len(gpix & ppix) / len(gpix | ppix) > 0.5:
                hit = pkey
                stats[gkey[0]][0] += len(gpix & ppix) / len(gpix | ppix)
        if hit is None:
            stats[gkey[0]][3] += 1
        else:
            stats[gkey[0]][1] += 1
            matched_p.add(hit)
    for pkey in pred:
        if pkey not in matched_p:
            stats[pkey[0]][2] += 1
    pqs = []
    for s, tp, fp, fn in stats.values():
        if tp + fp + fn:
            pqs.append(s / (tp + fp / 2 + fn / 2))
    return float(np.mean(pqs)) if pqs else float("nan")


label_map = arrays(np.int64, (4, 6), elements=st.integers(0, C - 1))
id_map = arrays(np.int64, (4, 6), elements=st.integers(0, 3))


@settings(max_examples=60, deadline=None)
@given(ps=label_map, pi=id_map, gs=label_map, gi=id_map)
def test_pq_properties_on_random_maps(ps, pi, gs, gi):
    counts = match_segments(ps, pi, gs, gi, C, THINGS)
    r = panoptic_quality(counts, THINGS)
    for key in ("pq", "sq", "rq", "pq_things", "pq_stuff"):
        assert np.isnan(r[key]) or 0.0 <= r[key] <= 1.0
    ok = np.isfinite(r["per_class_pq"])
    np.testing.assert_allclose(
        r["per_class_pq"][ok], r["per_class_sq"][ok] * r["per_class_rq"][ok], atol=1e-12
    )
    ref = reference_pq(ps, pi, gs, gi, C, set(THINGS))
    assert (np.isnan(ref) and np.isnan(r["pq"])) or r["pq"] == pytest.approx(ref)
    # relabelling instance ids (any injective map, per side) changes nothing
    perm = np.array([5, 11, 2, 40])
    r2 = panoptic_quality(match_segments(ps, perm[pi], gs, perm[::-1][gi], C, THINGS), THINGS)
    assert r2["pq"] == r["pq"] or (np.isnan(r2["pq"]) and np.isnan(r["pq"]))


@settings(max_examples=30, deadline=None)
@given(ps=label_map, pi=id_map, gs=label_map, gi=id_map, shift=st.integers(0, 3))
def test_pq_scene_from_per_frame_tables_equals_pq_of_concatenated_pixels(ps, pi, gs, gi, shift):
    """PQ^scene merges per-frame overlap tables; that must equal PQ of all pixels as one image."""
    from panolift.evaluate.protocols import panoptic_lifting_pq

    frames = ([ps, np.roll(ps, shift)], [pi, np.roll(pi, 1) * 70000], [gs, np.roll(gs, shift)], [gi, gi])
    cat = [np.concatenate([a.ravel() for a in f]) for f in frames]
    std = evaluate_label_maps(*frames, C, THINGS, "standard")
    ref = panoptic_quality(match_segments(*cat, C, THINGS), THINGS)
    pl = evaluate_label_maps(*frames, C, THINGS, "panoptic-lifting")
    ref_pl = panoptic_lifting_pq(*cat, C, THINGS)
    for got, want in ((std, ref), (pl, ref_pl)):
        for key in ("pq", "sq", "rq"):
            a, b = got[f"{key}_scene"], want[key]
            assert (np.isnan(a) and np.isnan(b)) or a == pytest.approx(b, abs=1e-12)
