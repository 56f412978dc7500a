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


def test_majority_votes_are_the_shares_of_the_vote_mass_each_class_wins():
    from types import SimpleNamespace

    import torch

    from panolift.runs.checks import majority_votes

    names = ("void", "wall", "floor", "tv")
    field = SimpleNamespace(
        has_label_votes=True,
        label_vote_mass=torch.tensor([3.0, 1.0, 4.0]),
        label_vote_classes=torch.tensor([[0, 0.6, 0.4, 0], [0, 0.2, 0.3, 0.5], [0, 0.1, 0.9, 0]]).half(),
    )
    shares = majority_votes(field, names)
    assert shares == {"wall": 3 / 8, "floor": 4 / 8, "tv": 1 / 8}
    assert majority_votes(SimpleNamespace(has_label_votes=False), names) is None  # the paper preset
