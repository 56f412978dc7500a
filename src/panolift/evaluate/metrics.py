"""Per-pixel metrics on label arrays: PSNR, confusion matrix, mIoU.

Panoptic quality lives in :mod:`panolift.evaluate.panoptic`.
"""

from __future__ import annotations

import numpy as np


def semantic_confusion(pred: np.ndarray, gt: np.ndarray, num_classes: int) -> np.ndarray:
    """Confusion matrix ``M[g, p] = #{pixels i : gt_i = g, pred_i = p, gt_i != 0}``.

    Rows are ground truth, columns prediction; pixels whose ground truth is void (0) are ignored.
    ``pred`` and ``gt`` are int arrays of any (equal) shape with ids in ``[0, num_classes)``.
    Returns a (num_classes, num_classes) int64 array.
    """
    pred = np.asarray(pred).reshape(-1).astype(np.int64)
    gt = np.asarray(gt).reshape(-1).astype(np.int64)
    if pred.shape != gt.shape:
        raise ValueError(f"prediction has {pred.size} pixels, ground truth {gt.size}")
    for what, arr in (("prediction", pred), ("ground truth", gt)):
        if arr.size and (arr.min() < 0 or arr.max() >= num_classes):
            raise ValueError(f"{what} class ids must lie in [0, {num_classes}), got {arr.min()}..{arr.max()}")
    keep = gt != 0
    flat = gt[keep] * num_classes + pred[keep]
    return np.bincount(flat, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def mean_iou(confusion: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean intersection over union from a confusion matrix (rows gt, columns prediction).

    ``IoU_k = M[k, k] / (sum_p M[k, p] + sum_g M[g, k] - M[k, k])`` for every non-void class k that occurs
    in the ground truth or the prediction (of non-void ground-truth pixels); ``mIoU = mean_k IoU_k`` over
    those classes. Returns (mIoU, per-class IoU of shape (num_classes,), NaN for void and absent classes).
    An empty matrix gives mIoU = NaN.
    """
    confusion = np.asarray(confusion, dtype=np.float64)
    tp = np.diag(confusion)
    union = confusion.sum(axis=0) + confusion.sum(axis=1) - tp
    iou = np.full(confusion.shape[0], np.nan)
    present = union > 0
    present[0] = False
    iou[present] = tp[present] / union[present]
    miou = float(np.mean(iou[present])) if present.any() else float("nan")
    return miou, iou


def class_boundary(gt: np.ndarray) -> np.ndarray:
    """(H, W) bool (or (W,) for a row): pixels of a true class boundary, those with another true class (void included) among
    their 8 neighbours. In small images much of a thing lies there: a chair 12 pixels wide has a third of
    its pixels on its boundary."""
    gt = np.asarray(gt)
    if gt.ndim == 1:  # a row of pixels
        return class_boundary(gt[None])[0]
    band = np.zeros(gt.shape, dtype=bool)
    h, w = gt.shape
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            if dy == 0 and dx == 0:
                continue
            a = gt[max(dy, 0) : h + min(dy, 0), max(dx, 0) : w + min(dx, 0)]
            b = gt[max(-dy, 0) : h + min(-dy, 0), max(-dx, 0) : w + min(-dx, 0)]
            band[max(dy, 0) : h + min(dy, 0), max(dx, 0) : w + min(dx, 0)] |= a != b
    return band


DEPTH_OFF = 1.2
"""A rendered depth more than this factor nearer or farther than the true one is off."""


def depth_ratio(truth: np.ndarray, rendered: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(rendered / true depth, 1 where the true depth is unknown; the mask of known pixels, true depth > 0)."""
    truth, rendered = np.asarray(truth, np.float64), np.asarray(rendered, np.float64)
    known = truth > 0
    return np.where(known, rendered / np.where(known, truth, 1.0), 1.0), known


def psnr(pred: np.ndarray, gt: np.ndarray) -> float:
    """Peak signal-to-noise ratio of float images in [0, 1]: ``PSNR = -10 log10(mean((pred - gt)^2))``.

    Identical images give ``inf``.
    """
    pred = np.asarray(pred, dtype=np.float64)
    gt = np.asarray(gt, dtype=np.float64)
    if pred.shape != gt.shape:
        raise ValueError(f"image shapes differ: {pred.shape} vs {gt.shape}")
    mse = float(np.mean((pred - gt) ** 2))
    if mse == 0.0:
        return float("inf")
    return float(-10.0 * np.log10(mse))


def gain_aligned_psnr(pred: np.ndarray, gt: np.ndarray) -> float:
    """PSNR of ``pred`` (..., 3) after the per-channel gain that fits it best to ``gt`` in least squares,
    a_c = sum(pred_c gt_c) / sum(pred_c^2), then clipped to [0, 1]: the colour up to the camera's exposure
    and white balance, for test frames whose camera set its own (their gain is nothing a field can know
    from the training frames)."""
    pred = np.asarray(pred, dtype=np.float64).reshape(-1, 3)
    gt = np.asarray(gt, dtype=np.float64).reshape(-1, 3)
    if pred.shape != gt.shape:
        raise ValueError(f"image shapes differ: {pred.shape} vs {gt.shape}")
    power = (pred * pred).sum(axis=0)
    gain = np.where(power > 0, (pred * gt).sum(axis=0) / np.maximum(power, 1e-12), 1.0)
    return psnr(np.clip(pred * gain, 0.0, 1.0), gt)
