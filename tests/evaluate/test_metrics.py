"""Hand-counted cases and properties of the per-pixel metrics (confusion matrix, mIoU, PSNR)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from panolift.evaluate.metrics import class_boundary, gain_aligned_psnr, mean_iou, psnr, semantic_confusion
from panolift.evaluate.protocols import panoptic_lifting_mean_iou


def test_confusion_and_miou_hand_counted():
    gt = np.array([[1, 1, 2], [2, 0, 3]])
    pred = np.array([[1, 2, 2], [2, 1, 0]])
    m = semantic_confusion(pred, gt, 4)
    expected = np.zeros((4, 4), dtype=np.int64)
    expected[1, 1] = 1  # the gt-void pixel (row 1, col 1) is not counted
    expected[1, 2] = 1
    expected[2, 2] = 2
    expected[3, 0] = 1  # predicted void on a class-3 pixel: a miss for class 3
    np.testing.assert_array_equal(m, expected)
    assert m.dtype == np.int64
    miou, iou = mean_iou(m)
    # IoU_1 = 1 / (2 + 1 - 1), IoU_2 = 2 / (2 + 3 - 2), IoU_3 = 0 / (1 + 0 - 0); void never averaged
    np.testing.assert_allclose(iou[1:], [1 / 2, 2 / 3, 0.0])
    assert np.isnan(iou[0])
    assert miou == pytest.approx((1 / 2 + 2 / 3 + 0) / 3)


def test_class_boundary_marks_both_sides_of_every_edge_void_included():
    gt = np.ones((5, 6), dtype=np.int64)
    gt[1:3, 1:3] = 2  # a 2x2 object
    gt[4, 5] = 0  # a void corner pixel
    band = class_boundary(gt)
    expected = np.zeros((5, 6), dtype=bool)
    expected[0:4, 0:4] = True  # the object and the ring of its 8-neighbours
    expected[3:5, 4:6] = True  # the void pixel and its neighbours
    np.testing.assert_array_equal(band, expected)
    assert not class_boundary(np.full((3, 4), 7)).any()  # one class: no boundary


def test_miou_absent_class_is_nan_and_not_averaged():
    gt = np.array([1, 1, 2, 2])
    m = semantic_confusion(gt, gt, 5)
    miou, iou = mean_iou(m)
    assert miou == 1.0
    assert np.isnan(iou[3]) and np.isnan(iou[4])


def test_confusion_rejects_out_of_range_and_shape():
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        semantic_confusion(np.array([0, 3]), np.array([1, 1]), 3)
    with pytest.raises(ValueError, match="pixels"):
        semantic_confusion(np.array([1, 1, 1]), np.array([1, 1]), 3)


def test_psnr_hand_counted():
    gt = np.zeros((2, 2, 3))
    pred = np.full((2, 2, 3), 0.1)  # mse = 0.01 -> 20 dB
    assert psnr(pred, gt) == pytest.approx(20.0)
    assert psnr(gt, gt) == float("inf")


def test_gain_aligned_psnr_forgives_a_per_channel_gain_only():
    rng = np.random.default_rng(0)
    gt = rng.uniform(0.1, 0.7, (6, 5, 3))
    pred = gt / np.array([1.3, 1.0, 0.8])  # another exposure and white balance, nothing else
    assert psnr(pred, gt) < 25.0
    assert gain_aligned_psnr(pred, gt) > 100.0
    noisy = pred + rng.normal(0.0, 0.02, pred.shape)  # a gain cannot fix noise
    assert 30.0 < gain_aligned_psnr(noisy, gt) < 40.0
    assert gain_aligned_psnr(np.zeros_like(gt), gt) == pytest.approx(psnr(np.zeros_like(gt), gt))
    with pytest.raises(ValueError, match="shapes"):
        gain_aligned_psnr(pred[:2], gt)


def test_panoptic_lifting_miou_drops_rare_classes_and_counts_void():
    # 1000 valid pixels: class 1 (600, all right), class 2 (396, all right), class 3 (4 gt, predicted as 2),
    # and the authors count a predicted void: make void cover 10 of class 1's pixels instead.
    m = np.zeros((4, 4), dtype=np.int64)
    m[1, 1], m[1, 0] = 590, 10  # 10 void predictions (1% of the pixels)
    m[2, 2] = 396
    m[3, 2] = 4  # class 3: 0.4% of gt and 0% of pred -> dropped
    miou, iou = panoptic_lifting_mean_iou(m)
    # IoU_0 = 0 / 10; IoU_1 = 590 / 600; IoU_2 = 396 / 400; IoU_3 dropped
    np.testing.assert_allclose(iou[:3], [0.0, 590 / 600, 396 / 400])
    assert np.isnan(iou[3])
    assert miou == pytest.approx((0 + 590 / 600 + 396 / 400) / 3)
    # a class rare in gt but frequent in pred is kept (the authors drop only when rare in both)
    m2 = m.copy()
    m2[1, 1], m2[1, 3] = 490, 100
    _, iou2 = panoptic_lifting_mean_iou(m2)
    assert iou2[3] == pytest.approx(0.0)
    # standard mIoU ignores void altogether
    _, iou_std = mean_iou(m)
    assert np.isnan(iou_std[0]) and iou_std[3] == 0.0


labels = arrays(np.int64, (3, 5), elements=st.integers(0, 4))


@settings(max_examples=40, deadline=None)
@given(pred=labels, gt=labels)
def test_miou_in_unit_interval_and_symmetric_iou(pred, gt):
    m = semantic_confusion(pred, gt, 5)
    assert m.sum() == np.count_nonzero(gt)
    miou, iou = mean_iou(m)
    finite = iou[np.isfinite(iou)]
    assert np.all((finite >= 0) & (finite <= 1))
    if np.isfinite(miou):
        assert 0.0 <= miou <= 1.0
    # slow, obvious reference: IoU_k = |pred == k & gt == k| / |pred == k | gt == k| over non-void gt pixels
    valid = gt != 0
    for k in range(1, 5):
        inter = np.count_nonzero((pred == k) & (gt == k) & valid)
        union = np.count_nonzero(((pred == k) | (gt == k)) & valid)
        if union == 0:
            assert np.isnan(iou[k])
        else:
            assert iou[k] == pytest.approx(inter / union)
    assert np.array_equal(
        semantic_confusion(gt, gt, 5).diagonal()[1:], np.bincount(gt[valid], minlength=5)[1:]
    )
