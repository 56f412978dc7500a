"""The machine-label simulator: flip rate, partners, independence across views, confidences, determinism."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from panolift.scene import SCANNET21, Scene, SceneWriter
from panolift.synth import LabelNoiseConfig, simulate_machine_labels, simulate_view
from panolift.synth.labels import PLAUSIBLE_PARTNERS, find_segments

CS = SCANNET21
WALL, CHAIR, SOFA, CABINET, TABLE = (CS.names.index(n) for n in ("wall", "chair", "sofa", "cabinet", "table"))
QUIET = LabelNoiseConfig(
    flip_prob=0.0,
    structure_flip_prob=0.0,
    boundary_noise=0.0,
    miss_small_prob=0.0,
    split_prob=0.0,
    merge_prob=0.0,
)


def grid_view(size: int = 96, cells: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """Ground truth: a wall with a grid of separate rectangles, chairs (things, ids 1..) and cabinets (stuff)."""
    sem = np.full((size, size), WALL)
    inst = np.zeros((size, size), dtype=np.int64)
    step = size // cells
    for r in range(cells):
        for c in range(cells):
            sl = (slice(r * step + 3, (r + 1) * step - 3), slice(c * step + 3, (c + 1) * step - 3))
            if (r + c) % 2:
                sem[sl] = CHAIR
                inst[sl] = r * cells + c + 1
            else:
                sem[sl] = CABINET
    return sem, inst


def segment_majorities(gt_sem, gt_inst, pred_sem):
    seg, gt_class = find_segments(gt_sem, gt_inst, CS)
    majority = [
        np.bincount(pred_sem[seg == i], minlength=CS.num_classes).argmax() for i in range(1, len(gt_class))
    ]
    return gt_class[1:], np.array(majority)


def test_flip_rate_near_parameter_and_flips_go_to_partners():
    noise = dataclasses.replace(QUIET, flip_prob=0.2)
    sem, inst = grid_view()
    gts, preds = [], []
    for view in range(40):
        labels, _ = simulate_view(sem, inst, CS, noise, np.random.default_rng([3, view]))
        g, p = segment_majorities(sem, inst, labels.semantics)
        gts.append(g[g != WALL])
        preds.append(p[g != WALL])
    gts, preds = np.concatenate(gts), np.concatenate(preds)
    flipped = gts != preds
    assert len(gts) == 40 * 16
    assert 0.14 < flipped.mean() < 0.26  # 640 draws of p = 0.2: sd 0.016
    for g, p in zip(gts[flipped], preds[flipped], strict=True):
        assert CS.names[p] in PLAUSIBLE_PARTNERS[CS.names[g]]


def test_quiet_simulator_reproduces_ground_truth_semantics():
    sem, inst = grid_view()
    labels, stats = simulate_view(sem, inst, CS, QUIET, np.random.default_rng(0))
    np.testing.assert_array_equal(labels.semantics, sem)
    assert stats.flipped == stats.missed == stats.split == stats.merged == 0
    # one 2D instance per chair, but with ids unrelated to the ground truth's
    pairs = {(a, b) for a, b in zip(inst[inst > 0], labels.instance[inst > 0], strict=True)}
    assert len(pairs) == len(np.unique(inst[inst > 0])) == len({b for _, b in pairs})
    assert np.all(labels.instance[sem != CHAIR] == 0)


def test_instance_ids_differ_across_views():
    sem, inst = grid_view()
    ids = []
    for view in range(6):
        labels, _ = simulate_view(sem, inst, CS, QUIET, np.random.default_rng([0, view]))
        ids.append([int(np.bincount(labels.instance[inst == k]).argmax()) for k in np.unique(inst[inst > 0])])
    ids = np.array(ids)  # (views, chairs)
    same = (ids[:, None, :] == ids[None, :, :]).sum(axis=-1) - np.eye(6, dtype=int) * ids.shape[1]
    assert same.sum() <= 2  # a chair keeps its id between two views only by chance


def test_tta_confidence_lower_on_wrong_segments_notta_overconfident():
    noise = dataclasses.replace(QUIET, flip_prob=0.3)
    sem, inst = grid_view()
    right, wrong, wrong_notta = [], [], []
    for view in range(20):
        labels, _ = simulate_view(sem, inst, CS, noise, np.random.default_rng([1, view]))
        ok = (labels.semantics == sem) & (sem != WALL)
        bad = labels.semantics != sem
        right.append(labels.confidence[ok])
        wrong.append(labels.confidence[bad])
        wrong_notta.append(labels.confidence_notta[bad])
        p = labels.probability
        np.testing.assert_allclose(p.sum(-1), 1.0, atol=1e-5)
        assert np.all(p.argmax(-1) == labels.semantics)
        assert np.median(p.max(-1)) > 0.8  # peaked
    right, wrong, wrong_notta = (np.concatenate(x) for x in (right, wrong, wrong_notta))
    assert wrong.size > 0 and wrong.mean() < right.mean() - 0.15
    assert wrong_notta.mean() > 0.8 > wrong.mean()


def test_missed_small_segments_splits_and_merges():
    sem, inst = grid_view()
    sem[2:5, 2:5] = TABLE  # a 9-pixel table: small
    missing = dataclasses.replace(QUIET, miss_small_prob=1.0)
    labels, stats = simulate_view(sem, inst, CS, missing, np.random.default_rng(0))
    assert stats.missed == 1 and np.all(labels.semantics[2:5, 2:5] == 0)
    assert np.all(labels.confidence[2:5, 2:5] == 0)

    splitting = dataclasses.replace(QUIET, split_prob=1.0)
    labels, stats = simulate_view(sem, inst, CS, splitting, np.random.default_rng(0))
    assert stats.split == 8
    assert len(np.unique(labels.instance[labels.instance > 0])) == 16

    two = np.full((40, 60), WALL)
    two_inst = np.zeros_like(two)
    two[10:30, 5:30], two_inst[10:30, 5:30] = SOFA, 1
    two[10:30, 30:55], two_inst[10:30, 30:55] = SOFA, 2  # touching sofas
    merging = dataclasses.replace(QUIET, merge_prob=1.0)
    labels, stats = simulate_view(two, two_inst, CS, merging, np.random.default_rng(0))
    assert stats.merged == 1 and len(np.unique(labels.instance[two == SOFA])) == 1


def test_boundary_noise_moves_boundaries_only():
    sem, inst = grid_view()
    noise = dataclasses.replace(QUIET, boundary_noise=0.02)
    labels, _ = simulate_view(sem, inst, CS, noise, np.random.default_rng(0))
    changed = labels.semantics != sem
    assert 0 < changed.mean() < 0.2
    from scipy import ndimage

    edges = ndimage.morphological_gradient(sem, size=3) > 0
    far = ~ndimage.binary_dilation(edges, iterations=8)
    assert not changed[far].any()


def test_simulator_on_any_scene_is_deterministic(tmp_path):
    writer = SceneWriter(tmp_path / "scene")
    sem, inst = grid_view(64)
    rng = np.random.default_rng(0)
    for i in range(3):
        writer.write_frame(str(i), rng.random((64, 64, 3)), np.eye(4), suffix=".png")
        writer.write_ground_truth(str(i), sem, inst)
    writer.write_intrinsics(np.array([[50.0, 0, 32], [0, 50.0, 32], [0, 0, 1]]))
    scene = Scene(tmp_path / "scene")
    out = {}
    for run in ("a", "b"):
        simulate_machine_labels(scene, writer, LabelNoiseConfig(), seed=5)
        out[run] = [scene.machine_labels(n) for n in scene.frame_names]
    for a, b in zip(out["a"], out["b"], strict=True):
        np.testing.assert_array_equal(a.semantics, b.semantics)
        np.testing.assert_array_equal(a.instance, b.instance)
        np.testing.assert_array_equal(a.confidence, b.confidence)
    notta = scene.machine_labels("0", tta=False)
    np.testing.assert_array_equal(notta.semantics, out["a"][0].semantics)
    assert notta.confidence.mean() > out["a"][0].confidence.mean()


def test_noise_config_rejects_bad_values():
    with pytest.raises(ValueError, match="flip_prob"):
        LabelNoiseConfig(flip_prob=1.5)
    with pytest.raises(ValueError, match="peak"):
        LabelNoiseConfig(peak=(0.9, 0.5))
