"""The report: its choice of frames, its error and depth panels, and the depth scores (panolift.evaluate)."""

from __future__ import annotations

import numpy as np
import pytest

from panolift.commands.evaluate import wrong_class_share
from panolift.evaluate.report import depth_panel, error_panel, frames_by_error
from panolift.evaluate.score import score_depth
from panolift.scene import ClassSet
from panolift.scene.scene import GroundTruth


def test_the_figure_shows_the_worst_the_median_and_the_best_frame():
    shares = {"a": 0.10, "b": 0.40, "c": 0.05, "d": 0.20, "e": 0.30}
    assert frames_by_error(shares, 3) == ["b", "d", "c"]
    assert frames_by_error(shares, 1) == ["b"]
    assert frames_by_error(shares, 9) == ["b", "e", "d", "a", "c"]  # no frame twice
    assert frames_by_error(shares, 0) == [] and frames_by_error({}, 3) == []


def test_wrong_pixels_are_red_and_void_is_neither_wrong_nor_right():
    truth = np.array([[0, 1], [2, 2]])
    predicted = np.array([[3, 1], [2, 1]])
    assert wrong_class_share(truth, predicted) == 1 / 3  # of the three labelled pixels, one wrong
    assert wrong_class_share(np.zeros((2, 2), int), predicted) == 0.0
    rgb = np.full((2, 2, 3), 200, np.uint8)
    panel = error_panel(rgb, truth, predicted)
    assert panel.dtype == np.uint8 and panel.shape == (2, 2, 3)
    assert panel[1, 1].tolist() == [230, 30, 30]  # wrong
    assert len(set(panel[0, 1].tolist())) == 1 and len(set(panel[1, 0].tolist())) == 1  # right: grey
    assert panel[0, 0, 0] < panel[0, 1, 0]  # void: darker grey, not red


def test_the_depth_panel_tells_a_sheet_before_the_surface_from_a_see_through_one():
    truth = np.array([[2.0, 2.0, 2.0, 0.0]])
    rendered = np.array([[2.02, 1.0, 4.0, 3.0]])  # right, nearer (fog), farther (see-through), unknown
    panel, nearer, farther = depth_panel(truth, rendered)
    assert panel.shape == (1, 4, 3) and panel.dtype == np.uint8
    right, near, far, unknown = (panel[0, i].astype(int) for i in range(4))
    assert right[1] > right[0] and right[1] > right[2]  # green
    assert near[0] > 200 and near[0] > near[2]  # red
    assert far[2] > 200 and far[2] > far[0]  # blue
    assert unknown.tolist() == [0, 0, 0]
    assert nearer == farther == 1 / 3  # of the three known pixels


def test_depth_scores_leave_out_unknown_and_invalid_pixels_and_need_every_frame_s_depth():
    class FakeScene:
        test_frames = ["a", "b"]
        truths = {"a": np.array([[2.0, 2.0, 0.0, 2.0]]), "b": np.array([[4.0, 4.0, 4.0, 4.0]])}
        class_set = ClassSet(names=("void", "wall", "bed"), thing_ids=(2,))

        def depth(self, name):
            return self.truths.get(name)

        def invalid_mask(self, name):
            return np.array([[False, False, False, name == "a"]])

        def ground_truth(self, name):
            return GroundTruth(np.array([[1, 2, 2, 2]]), np.zeros((1, 4), np.int64))

    rendered = {"a": np.array([[2.0, 1.0, 5.0, 9.0]]), "b": np.array([[4.0, 6.0, 4.0, 4.0]])}
    scores = score_depth(FakeScene(), rendered)
    # known and valid: a's first two (1, 0.5), b's four (1, 1.5, 1, 1)
    assert scores["depth_abs_rel"] == pytest.approx((0.5 + 0.5) / 6)
    assert scores["depth_nearer"] == pytest.approx(1 / 6) and scores["depth_farther"] == pytest.approx(1 / 6)
    # per true class: the bed's counted pixels are a's second (nearer) and b's second to fourth
    per_class = scores["per_class_depth_nearer"]
    assert (
        per_class["wall"] == 0.0 and per_class["bed"] == pytest.approx(1 / 4) and np.isnan(per_class["void"])
    )
    scene = FakeScene()
    scene.truths = {"a": scene.truths["a"]}  # frame b without depth
    assert score_depth(scene, rendered) is None
