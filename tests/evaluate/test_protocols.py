"""The panoptic-lifting protocol: hand-counted quirks, a slow reference of the authors' rules, and the resize."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from PIL import Image

from panolift.evaluate.panoptic import image_panoptic_quality
from panolift.evaluate.protocols import check_protocol, evaluate_frames, panoptic_lifting_pq
from panolift.scene import resize_nearest

WALL, CABINET, CHAIR = 1, 3, 5
THINGS = (4, 5)
C = 6


def _maps(parts):
    """Concatenate (count, class, instance) runs into flat label arrays."""
    sem = np.concatenate([np.full(n, k) for n, k, _ in parts])
    ins = np.concatenate([np.full(n, i) for n, _, i in parts])
    return sem, ins


def test_rare_class_is_dropped_and_its_pixels_become_void():
    gt_sem, gt_ins = _maps([(399, WALL, 0), (1, CHAIR, 1)])  # the chair covers 0.25% < 0.5%
    pred_sem, pred_ins = _maps([(400, WALL, 0)])
    r = panoptic_lifting_pq(pred_sem, pred_ins, gt_sem, gt_ins, C, THINGS)
    # wall: |p| - |p & void_gt| + |g| - |p & g| = 400 - 1 + 399 - 399 -> IoU 1; the chair is not averaged
    assert r["pq"] == 1.0 and np.isnan(r["per_class_pq"][CHAIR])
    std = image_panoptic_quality(pred_sem, pred_ins, gt_sem, gt_ins, C, THINGS)
    assert std["pq"] == pytest.approx((399 / 400 + 0.0) / 2)


def test_predicted_void_is_a_stuff_class_for_the_authors():
    gt_sem, gt_ins = _maps([(200, WALL, 0), (200, CHAIR, 1)])
    pred_sem, pred_ins = _maps([(200, WALL, 0), (200, 0, 0)])
    r = panoptic_lifting_pq(pred_sem, pred_ins, gt_sem, gt_ins, C, THINGS)
    # classes kept: void (one FP segment), wall (TP), chair (FN) -> (0 + 1 + 0) / 3
    assert r["pq"] == pytest.approx(1 / 3)
    assert r["pq_stuff"] == pytest.approx(1 / 2) and r["pq_things"] == 0.0
    std = image_panoptic_quality(pred_sem, pred_ins, gt_sem, gt_ins, C, THINGS)
    assert std["pq"] == pytest.approx(1 / 2)


def test_unmatched_segment_mostly_void_is_ignored():
    # the cabinet covers 0.25% of gt -> dropped on both sides; the prediction paints 3 of chair A's 4 pixels
    # as cabinet (now void), so the unmatched chair A is more than half void and is not a FN
    gt_sem, gt_ins = _maps([(387, WALL, 0), (1, CHAIR, 1), (3, CHAIR, 1), (8, CHAIR, 2), (1, CABINET, 0)])
    pred_sem, pred_ins = _maps(
        [(387, WALL, 0), (1, WALL, 0), (3, CABINET, 0), (8, CHAIR, 9), (1, CABINET, 0)]
    )
    r = panoptic_lifting_pq(pred_sem, pred_ins, gt_sem, gt_ins, C, THINGS)
    # wall IoU = 387 / 388 (TP), chair B IoU = 1 (TP), chair A ignored -> PQ_chair = 1 / 1
    assert r["per_class_pq"][WALL] == pytest.approx(387 / 388)
    assert r["per_class_pq"][CHAIR] == 1.0
    assert r["pq"] == pytest.approx((387 / 388 + 1) / 2)
    assert r["sq"] == pytest.approx((387 / 388 + 1) / 2) and r["rq"] == 1.0
    std = image_panoptic_quality(pred_sem, pred_ins, gt_sem, gt_ins, C, THINGS)
    assert std["per_class_pq"][CHAIR] == pytest.approx(1 / 1.5)


def test_unknown_protocol_is_refused():
    with pytest.raises(ValueError, match="panoptic-lifting"):
        check_protocol("coco")


@pytest.mark.parametrize("src", [(640, 480), (37, 23), (1000, 700), (512, 512), (300, 900)])
def test_resize_nearest_equals_pil_nearest(src):
    """The authors resize label PNGs with PIL's nearest filter; ours must pick the same pixels."""
    rng = np.random.default_rng(0)
    label = rng.integers(0, 65535, (src[1], src[0])).astype(np.uint16)
    for size in ((512, 512), (320, 240)):
        pil = np.asarray(Image.fromarray(label).resize(size, Image.NEAREST))
        np.testing.assert_array_equal(resize_nearest(label, size), pil)


# ------------------------------------------------------------------ slow reference of the authors' rules
def reference_panoptic_lifting_pq(ps, pi, gs, gi, num_classes, things, robust=0.005):
    valid = gs != 0
    ps, pi, gs, gi = ps[valid], pi[valid], gs[valid], gi[valid]
    present, rare = set(), set()
    for sem in (ps, gs):
        for k in set(sem.tolist()):
            present.add(k)
            if np.count_nonzero(sem == k) / sem.size < robust:
                rare.add(k)
    kept = sorted(present - rare)
    void = (1 + max([0] + kept), 0)

    def colour(k, i):
        if k not in kept:
            return void
        return (k, i if k in things else 0)

    pc = [colour(k, i) for k, i in zip(ps.tolist(), pi.tolist(), strict=True)]
    gc = [colour(k, i) for k, i in zip(gs.tolist(), gi.tolist(), strict=True)]
    area_p, area_g, inter = {}, {}, {}
    for a, b in zip(pc, gc, strict=True):
        area_p[a] = area_p.get(a, 0) + 1
        area_g[b] = area_g.get(b, 0) + 1
        inter[a, b] = inter.get((a, b), 0) + 1
    stats = {k: [0.0, 0, 0, 0] for k in kept}
    mp, mg = set(), set()
    for (a, b), n in inter.items():
        if b == void or a[0] != b[0]:
            continue
        union = area_p[a] - inter.get((a, void), 0) + area_g[b] - inter.get((void, b), 0) - n
        iou = float(np.float32(n) / np.float32(union))
        if iou > 0.5:
            mp.add(a)
            mg.add(b)
            stats[a[0]][0] += iou
            stats[a[0]][1] += 1
    for b in set(area_g) - mg - {void}:
        if inter.get((void, b), 0) / area_g[b] <= 0.5:
            stats[b[0]][3] += 1
    for a in set(area_p) - mp - {void}:
        if inter.get((a, void), 0) / area_p[a] <= 0.5:
            stats[a[0]][2] += 1
    pq, sq, rq = [], [], []
    for s, tp, fp, fn in stats.values():
        d = tp + fp / 2 + fn / 2
        pq.append(s / d if d else 0.0)
        sq.append(s / tp if tp else 0.0)
        rq.append(tp / d if d else 0.0)
    return np.mean(pq) if pq else np.nan, np.mean(sq) if sq else np.nan, np.mean(rq) if rq else np.nan


# many pixels and skewed classes so that the 0.5% rule and the void rules both fire
sem_map = arrays(np.int64, (300,), elements=st.sampled_from([0, 1, 1, 1, 4, 4, 5, 5]))
id_map = arrays(np.int64, (300,), elements=st.integers(0, 2))


@settings(max_examples=40, deadline=None)
@given(
    ps=sem_map,
    pi=id_map,
    gs=sem_map,
    gi=id_map,
    rare_gt=st.integers(0, 3),
    rare_pred=st.integers(0, 30),
    copied=st.integers(0, 300),
)
def test_panoptic_lifting_pq_matches_slow_reference(ps, pi, gs, gi, rare_gt, rare_pred, copied):
    # blocky maps (runs of 20 px) so that segments overlap well; the prediction copies a prefix of the gt
    gs, gi, ps, pi = (np.repeat(a[:15], 20) for a in (gs, gi, ps, pi))
    ps[:copied], pi[:copied] = gs[:copied], gi[:copied]
    # sprinkle classes that may be rare (0.5% of 300 px is 1.5 px): 2 in gt, 3 in a block of the prediction
    gs[:rare_gt] = 2
    ps[100 : 100 + rare_pred] = 3
    r = panoptic_lifting_pq(ps, pi, gs, gi, C, THINGS)
    pq, sq, rq = reference_panoptic_lifting_pq(ps, pi, gs, gi, C, set(THINGS))
    for got, want in ((r["pq"], pq), (r["sq"], sq), (r["rq"], rq)):
        assert (np.isnan(got) and np.isnan(want)) or got == pytest.approx(want, abs=1e-12)
    ok = np.isfinite(r["per_class_pq"])
    np.testing.assert_allclose(
        r["per_class_pq"][ok], r["per_class_sq"][ok] * r["per_class_rq"][ok], atol=1e-12
    )
    assert all(np.isnan(v) or 0 <= v <= 1 for v in (r["pq"], r["sq"], r["rq"]))
    # relabelling instance ids (injective, per side) changes nothing
    perm = np.array([7, 3, 12])
    r2 = panoptic_lifting_pq(ps, perm[pi], gs, perm[::-1][gi], C, THINGS)
    assert r2["pq"] == r["pq"] or (np.isnan(r2["pq"]) and np.isnan(r["pq"]))


def test_thing_counts_are_scene_level_3d_instances():
    # two frames; chairs 1, 2 and 3 in the ground truth (chair 3 only in frame 2). The prediction keeps
    # chair 1 under one id in both frames, merges chairs 2 and 3 into one id, and adds a false chair.
    gt1 = _maps([(100, WALL, 0), (50, CHAIR, 1), (50, CHAIR, 2)])
    pr1 = _maps([(100, WALL, 0), (50, CHAIR, 7), (50, CHAIR, 8)])
    gt2 = _maps([(60, WALL, 0), (40, CABINET, 0), (50, CHAIR, 1), (50, CHAIR, 3)])
    pr2 = _maps([(60, WALL, 0), (20, CABINET, 0), (20, CHAIR, 9), (50, CHAIR, 7), (50, CHAIR, 8)])
    frames = [(*pr1, *gt1), (*pr2, *gt2)]
    for protocol in ("standard", "panoptic-lifting"):
        r = evaluate_frames(iter(frames), C, THINGS, protocol)
        # chair 1 matched (IoU 1); id 8 covers chair 2 (50 px) and chair 3 (50 px): IoU 0.5 with each, no match
        assert (r["things_true"], r["things_found"], r["things_predicted"]) == (3, 1, 3), protocol
        assert (r["things_merged"], r["things_split"], r["things_wrong_class"], r["things_lost"]) == (
            2,
            0,
            0,
            0,
        )


def test_missed_things_are_told_apart_by_cause():
    BOX = 4  # the other thing class
    gt = _maps([
        (100, CHAIR, 1),  # found
        (60, CHAIR, 2), (60, CHAIR, 3),  # one predicted chair over both: merged, twice
        (100, CHAIR, 4),  # two predicted chairs of 40 and void: split
        (100, CHAIR, 5),  # mostly a box: wrong class
        (100, CHAIR, 6),  # mostly void: lost
        (50, CHAIR, 7), (150, WALL, 0),  # one chair spilling far onto the wall: lost, not merged
        (50, BOX, 1),  # found
    ])  # fmt: skip
    pred = _maps([
        (100, CHAIR, 1),
        (120, CHAIR, 2),
        (40, CHAIR, 5), (40, CHAIR, 6), (20, 0, 0),
        (80, BOX, 9), (20, CHAIR, 7),
        (70, 0, 0), (30, CHAIR, 8),
        (200, CHAIR, 10),
        (50, BOX, 11),
    ])  # fmt: skip
    r = evaluate_frames(iter([(*pred, *gt)]), C, THINGS)
    assert (r["things_true"], r["things_found"]) == (8, 2)
    causes = (r["things_merged"], r["things_split"], r["things_wrong_class"], r["things_lost"])
    assert causes == (2, 1, 1, 2)
    assert sum(causes) == r["things_true"] - r["things_found"]


def test_boundary_breakdown_tells_an_outline_a_pixel_off_from_a_wrong_class():
    gt = np.full((12, 12), WALL)
    gt[3:9, 3:9] = CHAIR  # a 6x6 chair on the wall
    ins = np.zeros_like(gt)
    ins[gt == CHAIR] = 1
    fat = np.full((12, 12), WALL)
    fat[2:10, 2:10] = CHAIR  # drawn a pixel too wide all round
    (r,) = [evaluate_frames(iter([(fat, (fat == CHAIR).astype(int), gt, ins)]), C, THINGS)]
    assert r["miou"] < 1.0
    assert r["boundary_error_share"] == 1.0  # every wrong pixel is the wall's ring beside the chair
    assert r["miou_interior"] == 1.0
    assert r["boundary_pixel_share"] == pytest.approx((8 * 8 - 4 * 4) / 144)  # the chair's 2-pixel rim
    flipped = np.where(gt == CHAIR, CABINET, gt)  # the right outline, the wrong class
    r = evaluate_frames(iter([(flipped, np.zeros_like(gt), gt, ins)]), C, THINGS)
    assert r["boundary_error_share"] == pytest.approx((36 - 16) / 36)  # the chair's 4x4 core is off it
    assert r["miou_interior"] == pytest.approx(1 / 3)  # wall 1, chair 0, cabinet 0
    right = evaluate_frames(iter([(gt, ins, gt, ins)]), C, THINGS)
    assert np.isnan(right["boundary_error_share"]) and right["miou_interior"] == 1.0
