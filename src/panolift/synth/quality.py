"""How good a scene's machine labels are: their mIoU against the ground truth (evaluation's metrics)."""

from __future__ import annotations

import numpy as np

from panolift.scene import Scene, SceneError


def machine_label_miou(scene: Scene, frames: list[str] | None = None) -> tuple[float, np.ndarray]:
    """mIoU of the TTA machine semantics against ground truth over ``frames`` (default: the test frames),
    one confusion matrix over all their pixels (void ground truth ignored). Returns (mIoU, per-class IoU)."""
    from panolift.evaluate.metrics import mean_iou, semantic_confusion

    num_classes = scene.class_set.num_classes
    confusion = np.zeros((num_classes, num_classes), dtype=np.int64)
    for name in scene.test_frames if frames is None else frames:
        gt = scene.ground_truth(name)
        if gt is None:
            raise SceneError(f"{scene.root / 'rs_semantics' / (name + '.png')}: no ground truth")
        confusion += semantic_confusion(scene.machine_label_maps(name)[0], gt.semantics, num_classes)
    return mean_iou(confusion)
