"""Scoring a scene's test frames: predicted label arrays (or the scene's 2D machine labels) against ground truth.

The result is a plain dict with a stable schema (fractions in [0, 1], NaN where a metric is undefined):
miou, per_class_iou (class name -> IoU), pq_scene, sq_scene, rq_scene, pq_scene_things, pq_scene_stuff,
pq_image, per_class_pq_scene (class name -> PQ^scene), per_class_pixels (class name -> {"true": pixels of
the class in the scored ground truth, "predicted": pixels predicted as it there}), things_true / things_found / things_predicted
(3D thing instances in the frames, matched at IoU > 0.5, predicted), why the others are missed
(things_merged / things_split / things_wrong_class / things_lost, see
:func:`~panolift.evaluate.protocols.missed_things`), num_frames, and psnr (dB, mean over frames) when
colours are given; boundary_error_share / boundary_pixel_share / miou_interior: how much of the error lies on
the true class boundaries (:func:`~panolift.evaluate.protocols.boundary_breakdown`).
"""

from __future__ import annotations

import logging

import numpy as np

from panolift.errors import OptionError
from panolift.scene import Scene, SceneError, resize_nearest

from .metrics import DEPTH_OFF, depth_ratio, gain_aligned_psnr, mean_iou, psnr, semantic_confusion
from .protocols import BOUNDARY_KEYS, MISSED_CAUSES, THING_COUNTS, check_protocol, evaluate_frames

log = logging.getLogger(__name__)

DEFAULT_EVAL_SIZE = (512, 512)  # (width, height) of the panoptic-lifting protocol


def _native_scene(scene):
    """The same scene at its native resolution (the authors resize label files, never resized labels)."""
    if tuple(scene.size) == tuple(scene.native_size):
        return scene
    return Scene(scene.root)


def _check_prediction(scene, frames, semantics, instance, rgb) -> None:
    shape = (scene.height, scene.width)
    num_classes = scene.class_set.num_classes
    for name in frames:
        for what, table in (("semantics", semantics), ("instance", instance), ("rgb", rgb)):
            if table is None:
                continue
            if name not in table:
                raise SceneError(f"prediction has no {what} for test frame '{name}'")
            arr = np.asarray(table[name])
            if arr.shape[:2] != shape:
                raise SceneError(
                    f"prediction {what} of frame '{name}' is {arr.shape[1]}x{arr.shape[0]}, "
                    f"the scene's working size is {shape[1]}x{shape[0]}"
                )
        sem = np.asarray(semantics[name])
        if sem.size and (sem.min() < 0 or sem.max() >= num_classes):
            raise SceneError(
                f"prediction semantics of frame '{name}' has class ids {sem.min()}..{sem.max()}, "
                f"outside 0..{num_classes - 1}"
            )
        if np.asarray(instance[name]).min(initial=0) < 0:
            raise SceneError(f"prediction instance of frame '{name}' has negative ids")


def _ground_truth(scene, name: str, protocol: str, eval_size) -> tuple[np.ndarray, np.ndarray]:

    gt = scene.ground_truth(name)
    if gt is None:
        raise SceneError(
            f"{scene.root / 'rs_semantics' / (name + '.png')}: no ground truth for test frame '{name}'"
        )
    if protocol == "standard":
        semantics = np.where(scene.invalid_mask(name), 0, gt.semantics)
        return semantics, gt.instance
    return resize_nearest(gt.semantics, eval_size), resize_nearest(gt.instance, eval_size)


def score_labels(
    scene,
    semantics: dict[str, np.ndarray],
    instance: dict[str, np.ndarray],
    rgb: dict[str, np.ndarray] | None = None,
    protocol: str = "standard",
    frames: list[str] | None = None,
    eval_size: tuple[int, int] = DEFAULT_EVAL_SIZE,
) -> dict:
    """Metrics of predicted labels (arrays at ``scene.size``) on ``frames`` (default: the test frames).

    ``semantics[name]``: (H, W) class index; ``instance[name]``: (H, W) instance id (0 for stuff/void,
    scene-consistent ids for things); ``rgb[name]``: (H, W, 3) float in [0, 1]. ``eval_size`` (width, height)
    is used by the ``panoptic-lifting`` protocol only. See :mod:`panolift.evaluate.protocols`.
    """

    check_protocol(protocol)
    if len(eval_size) != 2 or not all(int(v) == v and 1 <= v <= 16384 for v in eval_size):
        raise OptionError(f"--eval-size must be two positive integers (width height), got {tuple(eval_size)}")
    frames = list(scene.test_frames if frames is None else frames)
    if not frames:
        raise SceneError(f"{scene.root}: no test frames to evaluate")
    _check_prediction(scene, frames, semantics, instance, rgb)
    gt_scene = scene if protocol == "standard" else _native_scene(scene)

    def frame_maps():  # one frame at a time: a scene's pixels are never all in memory
        for name in frames:
            gt_sem, gt_ins = _ground_truth(gt_scene, name, protocol, eval_size)
            pred_sem, pred_ins = np.asarray(semantics[name]), np.asarray(instance[name])
            if protocol != "standard":
                pred_sem, pred_ins = resize_nearest(pred_sem, eval_size), resize_nearest(pred_ins, eval_size)
            yield pred_sem, pred_ins, gt_sem, gt_ins

    class_set = scene.class_set
    metrics = evaluate_frames(frame_maps(), class_set.num_classes, class_set.thing_ids, protocol)
    result = _schema(metrics, class_set.names, len(frames))
    if rgb is not None:
        result["psnr"] = float(np.mean([_frame_psnr(scene, n, np.asarray(rgb[n])) for n in frames]))
        result["psnr_gain_aligned"] = float(
            np.mean([_frame_psnr(scene, n, np.asarray(rgb[n]), aligned=True) for n in frames])
        )
    log.debug(
        "scored %d frames (%s): mIoU %.4f, PQ^scene %.4f",
        len(frames),
        protocol,
        result["miou"],
        result["pq_scene"],
    )
    return result


def _schema(metrics: dict, class_names, num_frames: int) -> dict:
    """The stable result dict (module docstring) from :func:`~panolift.evaluate.protocols.evaluate_frames`."""
    keys = ("miou", "pq_scene", "sq_scene", "rq_scene", "pq_scene_things", "pq_scene_stuff", "pq_image")
    result = {key: float(metrics[key]) for key in keys}
    result["per_class_iou"] = {
        n: float(v) for n, v in zip(class_names, metrics["per_class_iou"], strict=True)
    }
    result["per_class_pq_scene"] = {
        n: float(v) for n, v in zip(class_names, metrics["per_class_pq_scene"], strict=True)
    }
    confusion = np.asarray(metrics["confusion"])  # rows truth, columns prediction
    result["per_class_pixels"] = {  # each class one term of mIoU's mean, whatever its size
        n: {"true": int(t), "predicted": int(p)}
        for n, t, p in zip(class_names, confusion.sum(axis=1), confusion.sum(axis=0), strict=True)
    }
    for key in (*THING_COUNTS, *MISSED_CAUSES):
        result[key] = int(metrics[key])
    for key in BOUNDARY_KEYS:
        result[key] = float(metrics[key])
    result["num_frames"] = num_frames
    return result


def _frame_psnr(scene, name: str, rgb: np.ndarray, aligned: bool = False) -> float:
    """PSNR of one rendered frame against the scene's image, over the pixels the scene does not mark invalid
    (``aligned``: after the frame's best per-channel gain, :func:`gain_aligned_psnr`)."""
    valid = ~scene.invalid_mask(name)
    return (gain_aligned_psnr if aligned else psnr)(rgb[valid], scene.rgb(name)[valid])


def score_depth(scene, depths: dict[str, np.ndarray], frames: list[str] | None = None) -> dict | None:
    """Rendered depths (metres, at ``scene.size``) against the scene's depth on ``frames`` (default: the
    test frames), over the pixels whose true depth is known and that ``invalid/`` does not mask:
    ``depth_abs_rel`` = mean |d - d*| / d*, and the shares ``depth_nearer`` / ``depth_farther`` rendered
    more than :data:`~panolift.evaluate.metrics.DEPTH_OFF` x nearer (fog, a sheet before the surface) /
    farther (see-through); ``per_class_depth_nearer``: that share of each true class's pixels (where the
    scene has ground-truth classes; NaN for a class without such pixels). None when a frame has no true
    depth."""
    frames = list(scene.test_frames if frames is None else frames)
    num_classes = scene.class_set.num_classes
    rel, nearer, farther, count = 0.0, 0, 0, 0
    class_nearer, class_count = np.zeros(num_classes), np.zeros(num_classes)
    for name in frames:
        truth = scene.depth(name)
        if truth is None:
            return None
        ratio, known = depth_ratio(truth, depths[name])
        keep = known & ~scene.invalid_mask(name)
        ratio, near = ratio[keep], ratio[keep] < 1.0 / DEPTH_OFF
        rel += float(np.abs(ratio - 1.0).sum())
        nearer += int(near.sum())
        farther += int((ratio > DEPTH_OFF).sum())
        count += ratio.size
        gt = scene.ground_truth(name)
        if gt is not None:
            classes = np.asarray(gt.semantics)[keep].astype(np.int64)
            class_count += np.bincount(classes, minlength=num_classes)[:num_classes]
            class_nearer += np.bincount(classes[near], minlength=num_classes)[:num_classes]
    if count == 0:
        return None
    shares = np.where(class_count > 0, class_nearer / np.maximum(class_count, 1), np.nan)
    return {
        "depth_abs_rel": rel / count,
        "depth_nearer": nearer / count,
        "depth_farther": farther / count,
        "per_class_depth_nearer": {n: float(v) for n, v in zip(scene.class_set.names, shares, strict=True)},
    }


def score_machine_labels(
    scene,
    protocol: str = "standard",
    frames: list[str] | None = None,
    eval_size: tuple[int, int] = DEFAULT_EVAL_SIZE,
) -> dict:
    """Metrics of the scene's 2D machine labels (m2f_semantics / m2f_instance) on ``frames``.

    The "2D labels" baseline: the same protocol as :func:`score_labels`, with the per-view instance ids
    as they are (they are not consistent across views, which PQ^scene penalises).
    """
    check_protocol(protocol)
    if protocol != "standard":
        scene = _native_scene(scene)  # read label files at their own size, as the authors do
    frames = list(scene.test_frames if frames is None else frames)
    semantics, instance = {}, {}
    for name in frames:
        semantics[name], instance[name] = scene.machine_label_maps(name)
    return score_labels(scene, semantics, instance, protocol=protocol, frames=frames, eval_size=eval_size)


def machine_label_miou(scene: Scene, frames: list[str] | None = None) -> tuple[float, np.ndarray]:
    """mIoU of the TTA machine semantics against ground truth over ``frames`` (default: the test frames),
    one confusion matrix over all their pixels (void ground truth ignored). Returns (mIoU, per-class IoU).
    Reads the label PNGs only (a quick check of a scene's 2D labels, e.g. after `panolift synth`)."""
    num_classes = scene.class_set.num_classes
    confusion = np.zeros((num_classes, num_classes), dtype=np.int64)
    for name in scene.test_frames if frames is None else frames:
        gt = scene.ground_truth(name)
        if gt is None:
            raise SceneError(f"{scene.root / 'rs_semantics' / (name + '.png')}: no ground truth")
        confusion += semantic_confusion(scene.machine_label_maps(name)[0], gt.semantics, num_classes)
    return mean_iou(confusion)
