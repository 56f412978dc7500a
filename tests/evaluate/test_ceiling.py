"""The vote ceiling (panolift.evaluate.ceiling) on a real synthetic scene whose 2D labels we rewrite."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from panolift.evaluate.ceiling import joined_things, object_votes, told_apart, vote_ceiling
from panolift.scene import Scene
from panolift.scene.io import write_image


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


def test_two_things_are_one_object_where_most_views_that_show_both_merge_them():
    """Things 1 and 2 are one mask in 2 of the 5 views that show both: told apart; in 3 of 5 (or 2 of 4:
    as often together as apart) joined. Thing 3, alone in its mask everywhere, is never joined."""

    def views(merged: int, shown: int) -> list[dict[int, int]]:
        return [{1: 10, 2: 10 if v < merged else 20, 3: 30} for v in range(shown)]

    assert joined_things(views(2, 5)) == set()
    assert joined_things(views(3, 5)) == {1, 2}
    assert joined_things(views(2, 4)) == {1, 2}
    assert joined_things(views(2, 5) + [{1: 5}, {2: 5}]) == set()  # views of one alone say nothing


def _write_instance_masks(scene: Scene, merge: tuple[int, int] | None = None) -> None:
    """Training views' 2D instance masks := the true instance ids (``merge`` (a, b): b's pixels in a's mask)."""
    for name in scene.train_frames:
        instance = scene.ground_truth(name).instance.copy()
        if merge is not None:
            instance[instance == merge[1]] = merge[0]
        write_image(scene.root / "m2f_instance" / f"{name}.png", instance.astype(np.uint8))


def test_things_told_apart_by_the_scenes_own_masks_and_two_joined_by_a_merged_mask(scene_copy):
    """With the true instances as the 2D masks every tested thing that a training view shows is told
    apart; with two things that one training view shows together merged into one mask in every view,
    those two are joined (no view keeps them apart)."""
    _write_instance_masks(scene_copy)
    result = told_apart(scene_copy)
    assert result["things_joined"] == [] and result["things_told_apart"] > 0

    def things(name: str) -> set[int]:
        gt = scene_copy.ground_truth(name)
        ids, counts = np.unique(gt.instance[gt.instance > 0], return_counts=True)
        return {int(i) for i, c in zip(ids, counts, strict=True) if c >= 20}

    tested = set().union(*(things(n) for n in scene_copy.test_frames))
    pair = next(
        (a, b) for n in scene_copy.train_frames for a in things(n) for b in things(n) if a < b and {a, b} <= tested
    )  # fmt: skip
    _write_instance_masks(scene_copy, pair)
    merged = told_apart(scene_copy)
    assert sorted(int(label.split("#")[1]) for label in merged["things_joined"]) == list(pair)
    assert merged["things_told_apart"] == result["things_told_apart"] - 2
