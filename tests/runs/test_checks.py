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
