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

The vote ceiling takes each true thing's boundaries as given. :func:`told_apart` asks what the 2D
instance masks themselves can tell: a thing's main mask in a view is the 2D instance holding at least
half of its pixels; two things whose main masks are one mask in at least as many of the training views
that show both as they are two are one object by the majority of the views. A thing that has a main mask
in some training view and is one object with no other thing is told apart: the most that deciding "one
object or two" pair by pair, by the majority of the views, can find (with exact geometry).
"""

from __future__ import annotations

import numpy as np

from panolift.scene import Scene, SceneError

from .score import score_labels


def _object_keys(semantics: np.ndarray, instance: np.ndarray, num_classes: int) -> np.ndarray:
    """(H, W) int64 object key: class + num_classes * instance id (stuff: instance 0, one key per class)."""
    return semantics.astype(np.int64) + num_classes * instance.astype(np.int64)


def _ground_truth(scene: Scene, name: str):
    gt = scene.ground_truth(name)
    if gt is None:
        raise SceneError(f"{scene.root / 'rs_semantics' / (name + '.png')}: no ground truth for '{name}'")
    return gt


def object_votes(scene: Scene, frames: list[str] | None = None) -> dict[int, np.ndarray]:
    """Object key -> (num_classes,) confidence-weighted sum of the 2D class distributions over its pixels
    in ``frames`` (default: the training frames). Void ground-truth pixels vote for nothing."""
    num_classes = scene.class_set.num_classes
    votes: dict[int, np.ndarray] = {}
    for name in scene.train_frames if frames is None else frames:
        gt = _ground_truth(scene, name)
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
        gt = _ground_truth(scene, name)
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


MAIN_MASK_MIN_PIXELS = 20
"""A thing's pixels in a view below which it has no main mask there (too small for a 2D model's mask)."""


def main_masks(
    gt_semantics: np.ndarray, gt_instance: np.ndarray, instance_2d: np.ndarray, scene: Scene
) -> dict:
    """(class, instance) key of each true thing of one view -> the 2D instance id holding at least half of
    its pixels (things of fewer than ``MAIN_MASK_MIN_PIXELS`` pixels, or that no mask holds half of, left
    out)."""
    num_classes = scene.class_set.num_classes
    keys = _object_keys(gt_semantics, gt_instance, num_classes)
    masks = {}
    for key in np.unique(keys[gt_instance > 0]).tolist():
        if not scene.class_set.is_thing(key % num_classes):
            continue
        ids = instance_2d[keys == key]
        if ids.size < MAIN_MASK_MIN_PIXELS:
            continue
        values, counts = np.unique(ids[ids > 0], return_counts=True)
        if counts.size and 2 * counts.max() >= ids.size:
            masks[key] = int(values[counts.argmax()])
    return masks


def joined_things(views: list[dict[int, int]]) -> set[int]:
    """The things that are one object with another by the majority of the views: ``views`` holds each
    view's main masks (:func:`main_masks`); a pair shown by a view (both with a main mask) is together
    there when the two masks are one, apart otherwise, and joined when together at least as often as
    apart."""
    together: dict[tuple[int, int], int] = {}
    apart: dict[tuple[int, int], int] = {}
    for masks in views:
        keys = sorted(masks)
        for i, a in enumerate(keys):
            for b in keys[i + 1 :]:
                votes = together if masks[a] == masks[b] else apart
                votes[(a, b)] = votes.get((a, b), 0) + 1
    joined: set[int] = set()
    for pair, count in together.items():
        if count >= apart.get(pair, 0):
            joined.update(pair)
    return joined


def told_apart(scene: Scene) -> dict:
    """The true things of the test frames that the training views' 2D masks tell apart (module docstring):
    ``things_told_apart`` (count), ``things_joined`` ("class#instance" of those one object with another
    thing by the majority of the views, :func:`joined_things`) and ``things_without_mask`` (those no
    training view gives a main mask)."""
    num_classes = scene.class_set.num_classes
    views = []
    for name in scene.train_frames:
        gt = _ground_truth(scene, name)
        views.append(main_masks(gt.semantics, gt.instance, scene.machine_labels(name).instance, scene))
    masked = set().union(*views)
    joined = joined_things(views)
    true: set[int] = set()
    for name in scene.test_frames:
        gt = _ground_truth(scene, name)
        keys = np.unique(_object_keys(gt.semantics, gt.instance, num_classes)[gt.instance > 0]).tolist()
        true.update(k for k in keys if scene.class_set.is_thing(k % num_classes))
    names = scene.class_set.names
    label = lambda key: f"{names[key % num_classes]}#{key // num_classes}"  # noqa: E731
    return {
        "things_told_apart": sum(1 for key in true if key in masked and key not in joined),
        "things_joined": sorted(label(key) for key in true & joined),
        "things_without_mask": sorted(label(key) for key in true - masked),
    }


__all__ = ["joined_things", "main_masks", "object_votes", "told_apart", "vote_ceiling", "voted_class"]
