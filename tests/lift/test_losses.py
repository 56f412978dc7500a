"""Losses, the linear assignment, schedules and gradient blocking."""

from __future__ import annotations

import math

import pytest
import torch

from panolift.config import LiftConfig, tiny_config
from panolift.field import PanopticField
from panolift.lift.losses import (
    assign_instances,
    compute_consistency_loss,
    compute_distortion_loss,
    compute_instance_loss,
    compute_semantic_loss,
)
from panolift.lift.schedules import grid_resolution_at, loss_weights_at, upsample_resolutions
from panolift.render import render_rays


def _slot_probs(slot_of_ray: torch.Tensor, num_slots: int, sharp: float = 0.8) -> torch.Tensor:
    probs = torch.full((slot_of_ray.shape[0], num_slots), (1 - sharp) / (num_slots - 1))
    probs[torch.arange(slot_of_ray.shape[0]), slot_of_ray] = sharp
    return probs


def test_assignment_maps_permuted_ids_to_the_same_slots():
    gen = torch.Generator().manual_seed(0)
    true_instance = torch.randint(0, 5, (300,), generator=gen)  # 5 3D instances
    slot_of_instance = torch.tensor([7, 2, 9, 0, 4])
    probs = _slot_probs(slot_of_instance[true_instance], 12)
    probs = probs + 0.05 * torch.rand(probs.shape, generator=gen)  # noisy current model
    for ids in (torch.tensor([11, 12, 13, 14, 15]), torch.tensor([903, 5, 77, 1, 40])):  # two views' 2D ids
        slots = assign_instances(probs, ids[true_instance])
        assert torch.equal(slots, slot_of_instance[true_instance])


def test_assignment_is_injective_and_drops_the_smallest_past_the_slots():
    ids = torch.cat([torch.full((50,), 1), torch.full((40,), 2), torch.full((3,), 3)])
    probs = torch.full((ids.shape[0], 2), 0.5)  # every instance prefers nothing: still injective
    slots = assign_instances(probs, ids)
    assert slots[ids == 1].unique().numel() == 1 and slots[ids == 2].unique().numel() == 1
    assert slots[ids == 1][0] != slots[ids == 2][0]
    assert (slots[ids == 3] == -1).all()


def test_semantic_loss_ignores_void_and_weights_confidence():
    target = torch.tensor([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.5, 0.5]])
    pred = torch.tensor([[0.1, 0.6, 0.3], [0.2, 0.2, 0.6], [0.1, 0.3, 0.6]])
    conf = torch.tensor([1.0, 0.0, 0.5])  # ray 1 is void: weight 0
    loss = compute_semantic_loss(pred, target, conf)
    expected = (-math.log(0.6) + 0.5 * -(0.5 * math.log(0.3) + 0.5 * math.log(0.6))) / 2
    assert abs(float(loss) - expected) < 1e-6
    logits = torch.log(pred)  # unbounded: rendered logits -> log_softmax
    assert abs(float(compute_semantic_loss(logits, target, conf, bounded=False)) - expected) < 1e-5


def test_consistency_loss_pulls_a_segment_to_its_majority_class():
    sem = torch.tensor([[0.0, 0.7, 0.3], [0.0, 0.6, 0.4], [0.0, 0.3, 0.7], [0.0, 0.1, 0.9]])
    segments = torch.tensor([4, 4, 4, 9])
    loss = compute_consistency_loss(sem, segments, torch.ones(4))
    # segment 4 votes 1.6 for class 1 and 1.4 for class 2: all three rays are pulled to class 1
    expected = -(torch.log(sem[:3, 1]).sum() + torch.log(sem[3, 2])) / 4
    assert abs(float(loss) - float(expected)) < 1e-6


def test_agreeing_consistency_leaves_a_disputed_segment_to_the_semantic_loss():
    sem = torch.tensor(
        [[0.0, 0.7, 0.3], [0.0, 0.6, 0.4], [0.0, 0.3, 0.7], [0.0, 0.1, 0.9]], requires_grad=True
    )
    segments = torch.tensor([4, 4, 4, 9])
    # the 2D labels call segment 4 class 2 (the model's majority there is class 1) and segment 9 class 2
    labels = torch.tensor([[0.0, 0.0, 1.0]] * 4)
    loss = compute_consistency_loss(sem, segments, torch.ones(4), labels=labels, agreeing=True)
    expected = -torch.log(sem[3, 2]) / 4  # only segment 9, where model and labels agree, counts
    assert abs(float(loss.detach()) - float(expected.detach())) < 1e-6
    loss.backward()
    assert float(sem.grad[:3].abs().sum()) == 0.0 and float(sem.grad[3, 2]) < 0
    # the authors' loss pulls segment 4 to the model's class 1 against its labels
    plain = compute_consistency_loss(sem, segments, torch.ones(4), labels=labels)
    assert float(plain.detach()) > float(loss.detach()) + 0.1
    with pytest.raises(ValueError, match="2D labels"):
        compute_consistency_loss(sem, segments, torch.ones(4), agreeing=True)


def test_a_margin_keeps_disputed_segments_where_the_model_is_clearly_ahead():
    # segment 4: model 0.9/0.1 for class 1, labels say class 2 (ratio 9); segment 7: 0.55/0.45 (ratio 1.2)
    sem = torch.tensor([[0.0, 0.9, 0.1], [0.0, 0.9, 0.1], [0.0, 0.55, 0.45], [0.0, 0.55, 0.45]])
    segments = torch.tensor([4, 4, 7, 7])
    labels = torch.tensor([[0.0, 0.0, 1.0]] * 4)
    kwargs = {"labels": labels, "agreeing": True}
    assert float(compute_consistency_loss(sem, segments, torch.ones(4), **kwargs)) == 0.0
    kept = compute_consistency_loss(sem, segments, torch.ones(4), **kwargs, margin=2.0)
    assert abs(float(kept) - float(-2 * torch.log(sem[0, 1]) / 4)) < 1e-6  # segment 4 only
    both = compute_consistency_loss(sem, segments, torch.ones(4), **kwargs, margin=1.1)
    assert float(both) > float(kept)
    assert float(compute_consistency_loss(sem, segments, torch.ones(4), **kwargs, margin=10.0)) == 0.0


def test_instance_loss_on_assigned_slots():
    probs = torch.tensor([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]])
    loss = compute_instance_loss(probs, torch.tensor([0, -1]), torch.tensor([0.5, 1.0]))
    assert abs(float(loss) - 0.5 * -math.log(0.7)) < 1e-6


def test_distortion_matches_the_double_sum():
    gen = torch.Generator().manual_seed(3)
    w = torch.rand(4, 9, generator=gen, dtype=torch.float64) / 9
    t = torch.cumsum(torch.rand(4, 9, generator=gen, dtype=torch.float64), -1)
    d = torch.rand(4, 9, generator=gen, dtype=torch.float64)
    ref = (w[:, :, None] * w[:, None, :] * (t[:, :, None] - t[:, None, :]).abs()).sum((1, 2))
    ref = (ref + (w**2 * d).sum(-1) / 3).mean()
    assert abs(float(compute_distortion_loss(w, t, d)) - float(ref)) < 1e-12


def test_log_depth_distortion_is_the_same_in_a_larger_room():
    gen = torch.Generator().manual_seed(4)
    w = torch.rand(5, 12, generator=gen, dtype=torch.float64) / 12
    d = torch.full((5, 12), 0.05, dtype=torch.float64)
    t = 0.3 + torch.cumsum(d, -1) - 0.5 * d
    small = compute_distortion_loss(w, t, d, log_depth=True)
    large = compute_distortion_loss(w, 3.0 * t, 3.0 * d, log_depth=True)
    assert abs(float(small) - float(large)) < 1e-12
    assert float(compute_distortion_loss(w, 3.0 * t, 3.0 * d)) > 2.9 * float(compute_distortion_loss(w, t, d))
    # the double sum over the intervals mapped to log depth
    s0, s1 = torch.log(t - 0.5 * d), torch.log(t + 0.5 * d)
    s, ds = 0.5 * (s0 + s1), s1 - s0
    ref = (w[:, :, None] * w[:, None, :] * (s[:, :, None] - s[:, None, :]).abs()).sum((1, 2))
    ref = (ref + (w**2 * ds).sum(-1) / 3).mean()
    assert abs(float(small) - float(ref)) < 1e-12
    # the same mass piled up one interval near the camera costs more than at the far wall
    near, far = torch.zeros(1, 12, dtype=torch.float64), torch.zeros(1, 12, dtype=torch.float64)
    near[0, 0], far[0, -1] = 1.0, 1.0
    assert float(compute_distortion_loss(near, t[:1], d[:1], log_depth=True)) > float(
        compute_distortion_loss(far, t[:1], d[:1], log_depth=True)
    )


def _density_grads(gradient_blocking: bool) -> tuple[float, float]:
    torch.manual_seed(0)
    config = tiny_config()
    field = PanopticField(config.field, num_classes=5)
    with torch.no_grad():
        for p in field.density_grid.parameters():
            p.add_(0.7)  # visible density, so that weights are significant
    gen = torch.Generator().manual_seed(0)
    origins = torch.zeros(64, 3)
    dirs = torch.nn.functional.normalize(torch.randn(64, 3, generator=gen), dim=-1)
    out = render_rays(field, origins, dirs, config.render, gradient_blocking=gradient_blocking)
    target = torch.softmax(torch.randn(64, 5, generator=gen), -1)
    sem = compute_semantic_loss(out["semantics"], target, torch.ones(64))
    ids = torch.randint(1, 4, (64,), generator=gen)
    ins = compute_instance_loss(out["instance"], assign_instances(out["instance"], ids), torch.ones(64))
    (sem + ins).backward()
    density = sum(float(p.grad.abs().sum()) for p in field.density_grid.parameters() if p.grad is not None)
    heads = sum(float(p.grad.abs().sum()) for p in field.semantic_head.parameters())
    return density, heads


def test_gradient_blocking():
    density, heads = _density_grads(gradient_blocking=True)
    assert density == 0.0 and heads > 0
    density, heads = _density_grads(gradient_blocking=False)
    assert density > 0 and heads > 0


def test_schedules():
    assert upsample_resolutions(128, 192, 5)[-1] == 192
    sizes = upsample_resolutions(128, 192, 5)
    assert all(a < b for a, b in zip(sizes, sizes[1:], strict=False))
    config = LiftConfig()
    assert grid_resolution_at(0, config) == 128 and grid_resolution_at(10**6, config) == 192
    config.train.iterations = 1000
    assert loss_weights_at(299, config)["instance"] == 0 and loss_weights_at(300, config)["instance"] == 1.0
    assert (
        loss_weights_at(599, config)["consistency"] == 0
        and loss_weights_at(600, config)["consistency"] == 1.35
    )
    config.loss.segment_consistency = False
    assert loss_weights_at(900, config)["consistency"] == 0


def test_matched_depth_starts_at_its_fraction_of_the_steps_at_full_weight():
    """``loss.matched_depth_start``: off before it, at once at full weight from it (no ramp), and it moves
    with the iterations as a rescheduled preset's upsampling does (`fast`'s first upsampling, 400 of 3000;
    `quick`'s, 107 of 800)."""
    config = LiftConfig()
    config.loss.matched_depth, config.loss.ramp, config.train.iterations = 0.1, 0.1, 3000
    assert loss_weights_at(1, config)["matched_depth"] == 0.1  # 0: from the first step
    config.loss.matched_depth_start = 0.1333
    weights = [loss_weights_at(s, config)["matched_depth"] for s in (1, 399, 400, 401, 3000)]
    assert weights == [0, 0, 0.1, 0.1, 0.1]
    config.train.iterations = 800
    assert (
        loss_weights_at(106, config)["matched_depth"] == 0
        and loss_weights_at(107, config)["matched_depth"] == 0.1
    )


def test_ramped_losses_rise_linearly_from_their_start():
    config = LiftConfig()
    config.train.iterations = 1000
    config.loss.ramp = 0.1  # 100 steps
    instance = [loss_weights_at(s, config)["instance"] for s in (299, 300, 349, 399, 400, 999)]
    assert instance == [0.0, 0.01, 0.5, 1.0, 1.0, 1.0]
    consistency = [loss_weights_at(s, config)["consistency"] for s in (599, 600, 649, 699, 1000)]
    assert consistency == pytest.approx([0.0, 0.0135, 0.675, 1.35, 1.35])
    weights = [loss_weights_at(s, config)["consistency"] for s in range(600, 700)]
    assert all(a < b for a, b in zip(weights, weights[1:], strict=False))  # strictly rising over the ramp


def test_frames_with_more_instances_than_slots_drop_the_smallest(caplog):
    import numpy as np

    from panolift.lift.batching import drop_extra_instances

    instance = np.zeros((4, 10), dtype=np.int64)
    instance[0, :6] = 7  # 6 pixels
    instance[1, :4] = 3  # 4 pixels
    instance[2, :2] = 9  # 2 pixels: the smallest
    with caplog.at_level("WARNING"):
        kept = drop_extra_instances(instance, num_slots=2, frame="f0")
    assert sorted(np.unique(kept[kept > 0]).tolist()) == [3, 7]
    assert "f0" in caplog.text and "dropping" in caplog.text
    assert drop_extra_instances(instance, num_slots=3, frame="f0") is instance


def test_the_trainer_passes_the_2d_labels_to_the_agreeing_consistency(tiny_scene):
    from panolift.lift.trainer import Trainer
    from panolift.scene import Scene

    torch.manual_seed(0)
    config = tiny_config()
    config.loss.consistency_start, config.loss.instance_start, config.loss.ramp = 0.0, 0.0, 0.0
    scene = Scene(tiny_scene)
    trainer = Trainer(scene, scene.normalization(config.train.max_depth), config)
    state = trainer.generator.get_state()
    with torch.no_grad():
        plain = float(trainer.compute_losses(1)["consistency"])
        trainer.config.loss.consistency_agreeing = True
        trainer.generator.set_state(state)  # the same rays
        agreeing = float(trainer.compute_losses(1)["consistency"])
        trainer.config.loss.consistency_margin = 1.0  # the model's class always has >= 1x the labels' votes
        trainer.generator.set_state(state)
        margin_one = float(trainer.compute_losses(1)["consistency"])
    # an untrained field's majorities mostly disagree with the labels: those segments drop out
    assert 0.0 <= agreeing < plain
    assert margin_one == pytest.approx(plain)  # the trainer passes the margin: every segment counts again
