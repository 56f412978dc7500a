"""The no-ground-truth check of a trained run against its inputs, on the tiny run."""

from __future__ import annotations

import math

from panolift.runs import check_against_inputs, load_run


def test_the_tiny_run_is_checked_against_its_training_views(tiny_run):
    agreement = check_against_inputs(load_run(tiny_run), max_frames=3, width=32)
    assert agreement.num_frames == 3
    assert math.isfinite(agreement.psnr) and agreement.psnr > 12
    assert 0.0 < agreement.miou <= 1.0 and 0.0 < agreement.pixel_agreement <= 1.0
    assert abs(sum(agreement.share.values()) - 1.0) < 1e-6
    assert "training views" in agreement.summary()


def test_by_default_every_training_view_up_to_64_is_compared(tiny_run):
    """Many small views, not a few large ones: a class counts as lost only where no compared view renders
    it as its labels do, and a few views may hold only the labels' flips of a class."""
    loaded = load_run(tiny_run)
    frames = loaded.open_scene().train_frames
    agreement = check_against_inputs(loaded)
    assert agreement.num_frames == min(64, len(frames)) and len(frames) > 3
    assert f"on {agreement.num_frames} training views" in agreement.summary()
