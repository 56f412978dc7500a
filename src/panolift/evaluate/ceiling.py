"""The vote ceiling of a scene: what lifting could reach if it did nothing but vote, object by object.

Lifting fuses the training views' 2D labels; it cannot know better than their evidence. The ceiling makes
that evidence explicit with the ground truth's help (so: benchmarks only, never training): every true
object o (a thing instance, or all pixels of one stuff class) takes the class

    K_o = argmax_{k >= 1}  sum_{views v} sum_{pixels r of o in v}  w_r kappa_r(k)

that the confidence-weighted semantic loss favours (its optimum, were the object one point), and the test
frames are scored with every object in that class, its boundaries and instances exact. A lifting that
reaches the ceiling has done all that voting can; one below it loses objects the evidence kept (geometry,
resolution, a loss that swings a whole class). A ceiling below the 2D labels' own score means the training
views outvote the test views' labels: a noise draw that no lifting without class priors can undo. Objects
no training view shows are void in the ceiling (nothing voted for them).
"""

from __future__ import annotations

import numpy as np

from panolift.scene import Scene, SceneError

from .score import score_labels


def _object_keys(semantics: np.ndarray, instance: np.ndarray, num_classes: int) -> np.ndarray:
    """(H, W) int64 object key: class + num_classes * instance id (stuff: instance 0, one key per class)."""
    return semantics.astype(np.int64) + num_classes * instance.astype(np.int64)


def object_votes(scene: Scene, frames: list[str] | None = None) -> dict[int, np.ndarray]:
    """Object key -> (num_classes,) confidence-weighted sum of the 2D class distributions over its pixels
    in ``frames`` (default: the training frames). Void ground-truth pixels vote for nothing."""
    num_classes = scene.class_set.num_classes
    votes: dict[int, np.ndarray] = {}
    for name in scene.train_frames if frames is None else frames:
        gt = scene.ground_truth(name)
        if gt is None:
            raise SceneError(f"{scene.root / 'rs_semantics' / (name + '.png')}: no ground truth for '{name}'")
        labels = scene.machine_labels(name)
        keys = _object_keys(gt.semantics, gt.instance, num_classes)
        valid = gt.semantics > 0
        weighted = labels.confidence[valid, None].astype(np.float64) * labels.probability[valid].astype(
            np.float64
        )
        uniq, inverse = np.unique(keys[valid], return_inverse=True)
        sums = np.zeros((uniq.shape[0], num_classes))
        np.add.at(sums, inverse, weighted)
        for key, row in zip(uniq.tolist(), sums, strict=True):
            votes[key] = votes[key] + row if key in votes else row
    return votes


def voted_class(votes: np.ndarray) -> int:
    """The argmax over classes >= 1 of a vote row (0 when nothing voted)."""
    if votes[1:].sum() <= 0:
        return 0
    return int(np.argmax(votes[1:]) + 1)


def vote_ceiling(scene: Scene, protocol: str = "standard") -> dict:
    """Score (as :func:`panolift.evaluate.score_labels`) of the vote ceiling on the test frames, plus
    ``objects`` (objects the training views show), ``objects_outvoted`` (of those, how many the votes give
    a wrong class) and ``outvoted`` (their names, "class#instance")."""
    num_classes = scene.class_set.num_classes
    votes = object_votes(scene)
    choice = {key: voted_class(row) for key, row in votes.items()}
    semantics, instance = {}, {}
    for name in scene.test_frames:
        gt = scene.ground_truth(name)
        if gt is None:
            raise SceneError(f"{scene.root / 'rs_semantics' / (name + '.png')}: no ground truth for '{name}'")
        keys = _object_keys(gt.semantics, gt.instance, num_classes)
        uniq, inverse = np.unique(keys, return_inverse=True)
        classes = np.array([choice.get(k, 0) for k in uniq.tolist()], dtype=np.int64)
        semantics[name] = np.where(gt.semantics > 0, classes[inverse.reshape(keys.shape)], 0)
        instance[name] = gt.instance
    result = score_labels(scene, semantics, instance, protocol=protocol)
    names = scene.class_set.names
    wrong = sorted(key for key, cls in choice.items() if key % num_classes != 0 and cls != key % num_classes)
    result["objects"] = sum(1 for key in choice if key % num_classes != 0)
    result["objects_outvoted"] = len(wrong)
    result["outvoted"] = [f"{names[k % num_classes]}#{k // num_classes}->{names[choice[k]]}" for k in wrong]
    return result


__all__ = ["object_votes", "vote_ceiling", "voted_class"]
