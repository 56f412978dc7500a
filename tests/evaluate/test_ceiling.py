"""The vote ceiling (panolift.evaluate.ceiling) on a real synthetic scene whose 2D labels we rewrite."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from panolift.evaluate.ceiling import object_votes, vote_ceiling
from panolift.scene import Scene


def _write_votes(scene: Scene, relabel=None) -> None:
    """Training views' 2D distributions := one-hot ground truth at confidence 1, except ``relabel``
    ((class, instance) -> class), whose pixels vote for the given class."""
    num_classes = scene.class_set.num_classes
    for name in scene.train_frames:
        gt = scene.ground_truth(name)
        semantics = gt.semantics.copy()
        for (cls, inst), new in (relabel or {}).items():
            semantics[(gt.semantics == cls) & (gt.instance == inst)] = new
        probability = np.eye(num_classes, dtype=np.float32)[semantics]
        ones = np.ones(semantics.shape, dtype=np.float32)
        np.savez(
            scene.root / "m2f_probabilities" / f"{name}.npz",
            probability=probability, confidence=ones, confidence_notta=ones,
        )  # fmt: skip


@pytest.fixture()
def scene_copy(tiny_scene, tmp_path) -> Scene:
    root = tmp_path / "scene"
    shutil.copytree(tiny_scene, root)
    return Scene(root)


def test_votes_of_the_true_labels_reach_every_seen_object(scene_copy):
    _write_votes(scene_copy)
    result = vote_ceiling(scene_copy)
    assert result["objects"] > 0 and result["objects_outvoted"] == 0 and result["outvoted"] == []
    # every test-frame class the training frames also show is scored perfectly
    seen = {k % scene_copy.class_set.num_classes for k in object_votes(scene_copy)}
    names = scene_copy.class_set.names
    for k in seen - {0}:
        iou = result["per_class_iou"][names[k]]
        assert np.isnan(iou) or iou == pytest.approx(1.0)


def test_an_outvoted_object_loses_its_class(scene_copy):
    names = scene_copy.class_set.names
    thing_ids = sorted(scene_copy.class_set.thing_ids)
    gt = next(
        g for g in (scene_copy.ground_truth(n) for n in scene_copy.test_frames) if (g.instance > 0).any()
    )
    inst = int(np.unique(gt.instance[gt.instance > 0])[0])
    cls = int(np.bincount(gt.semantics[gt.instance == inst]).argmax())
    assert cls in thing_ids
    other = next(k for k in thing_ids if k != cls)
    _write_votes(scene_copy, {(cls, inst): other})
    result = vote_ceiling(scene_copy)
    assert f"{names[cls]}#{inst}->{names[other]}" in result["outvoted"]
    assert result["objects_outvoted"] == 1
    assert result["per_class_iou"][names[cls]] < 1.0


def test_the_simulated_labels_have_a_ceiling_above_their_own_score(tiny_scene):
    from panolift.evaluate import score_machine_labels

    scene = Scene(tiny_scene)
    ceiling, labels = vote_ceiling(scene), score_machine_labels(scene)
    assert 0.0 <= ceiling["miou"] <= 1.0 and ceiling["objects"] > 0
    assert ceiling["miou"] > labels["miou"]  # voting over views undoes per-view flips
