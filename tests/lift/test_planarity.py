"""The planarity prior: rendered inverse depth with no second difference where the image is flat
(:mod:`panolift.lift.planarity`)."""

from __future__ import annotations

import math

import pytest
import torch

from panolift.config import tiny_config
from panolift.lift.planarity import compute_planarity_loss, flatness_weights, sample_triplets
from panolift.lift.trainer import Trainer
from panolift.render import render_rays
from panolift.scene import Scene, rays_through_pixels

K = torch.tensor([[50.0, 0.0, 32.0], [0.0, 50.0, 24.0], [0.0, 0.0, 1.0]])


def _one_hot_weights(distance: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Rendering weights with all of each ray's weight on the sample nearest ``distance``."""
    weights = torch.zeros(distance.shape[0], t.shape[0])
    weights[torch.arange(distance.shape[0]), (t[None] - distance[:, None]).abs().argmin(dim=1)] = 1.0
    return weights


def _plane_distances(c2w: torch.Tensor, x: torch.Tensor, y: torch.Tensor, normal, offset: float):
    """Distance along each unit ray through (x, y) to the plane normal . X = offset, and the rays' cosines."""
    origins, dirs = rays_through_pixels(K, c2w, x, y)
    normal = torch.tensor(normal, dtype=dirs.dtype)
    distance = (offset - origins @ normal) / (dirs @ normal)
    return distance, dirs @ c2w[:3, 2]


@pytest.mark.parametrize("normal", [(0.0, 0.0, 1.0), (0.3, -0.2, 1.0), (0.8, 0.1, 0.6)])
def test_any_plane_costs_nothing_a_step_in_depth_costs(normal):
    """Triplets along rows and columns on a plane, facing the camera or tilted: residual ~0; the same
    triplets with the middle pixel on a sheet at half the distance: a clear residual."""
    c2w = torch.eye(4)
    x = torch.tensor([20.0, 22.0, 24.0, 40.0, 40.0, 40.0]) + 0.5
    y = torch.tensor([10.0, 10.0, 10.0, 30.0, 33.0, 36.0]) + 0.5
    distance, cos = _plane_distances(c2w, x, y, normal, 3.0)
    t = torch.linspace(0.05, 12.0, 40000)
    flat = torch.ones(2)
    plane = compute_planarity_loss(_one_hot_weights(distance, t), t[None].expand(6, -1), cos, flat)
    assert float(plane) < 2e-3
    sheet = distance.clone()
    sheet[1], sheet[4] = 0.5 * sheet[1], 0.5 * sheet[4]
    stepped = compute_planarity_loss(_one_hot_weights(sheet, t), t[None].expand(6, -1), cos, flat)
    assert float(stepped) > 0.5
    # weighted by flatness: a triplet on an image edge does not count
    only_first = compute_planarity_loss(
        _one_hot_weights(sheet, t), t[None].expand(6, -1), cos, torch.tensor([1.0, 0.0])
    )
    assert float(only_first) == pytest.approx(float(stepped) / 2, rel=1e-4)


def test_rays_that_hit_nothing_leave_their_triplet_out_and_gradients_reach_the_weights():
    t = torch.linspace(0.1, 5.0, 50)[None].expand(3, -1)
    weights = torch.zeros(3, 50)
    weights[0, 10], weights[1, 40], weights[2, 10] = 1.0, 0.3, 1.0  # the middle ray is mostly empty
    cos = torch.ones(3)
    assert float(compute_planarity_loss(weights, t, cos, torch.ones(1))) == 0.0
    weights = weights.clone()
    weights[1, 40] = 1.0  # now a surface far behind the other two
    weights.requires_grad_(True)
    loss = compute_planarity_loss(weights, t, cos, torch.ones(1))
    loss.backward()
    assert float(loss.detach()) > 0.1 and float(weights.grad.abs().sum()) > 0


def test_flatness_is_one_on_flat_colour_falls_with_its_steps_and_is_zero_across_segments():
    rgb = torch.tensor(
        [
            [[0.5, 0.5, 0.5]] * 3,  # flat
            [[0.5, 0.5, 0.5], [0.53, 0.5, 0.5], [0.5, 0.5, 0.5]],  # a step of 0.03 in red
            [[0.5, 0.5, 0.5]] * 3,  # flat but the last pixel in another 2D segment
            [[0.1, 0.1, 0.1], [0.1, 0.1, 0.1], [0.9, 0.9, 0.9]],  # an image edge
        ]
    )
    segments = torch.tensor([[3, 3, 3], [3, 3, 3], [3, 3, 4], [1, 1, 1]])
    usable = torch.tensor([True, True, True, True])
    w = flatness_weights(rgb, segments, usable, flat=0.03)
    assert w[0] == pytest.approx(1.0)
    assert w[1] == pytest.approx(math.exp(-1.0), rel=1e-3)
    assert w[2] == 0.0 and float(w[3]) < 1e-10
    assert flatness_weights(rgb, segments, torch.tensor([False, True, True, True]), 0.03)[0] == 0.0


def test_triplets_are_three_pixels_on_a_row_or_column_of_one_frame(tiny_scene):
    scene = Scene(tiny_scene)
    config = tiny_config()
    data = Trainer(scene, scene.normalization(config.train.max_depth), config).data
    generator = torch.Generator().manual_seed(0)
    batch = sample_triplets(data, 500, generator, max_step=4)
    origins = batch["origins"].reshape(500, 3, 3)
    assert torch.allclose(origins[:, 0], origins[:, 1]) and torch.allclose(origins[:, 1], origins[:, 2])
    x, y = batch["pixels"] % data.width, batch["pixels"] // data.width
    dx, dy = x[:, 1] - x[:, 0], y[:, 1] - y[:, 0]
    assert bool(((x[:, 2] - x[:, 1]) == dx).all()) and bool(((y[:, 2] - y[:, 1]) == dy).all())
    assert bool(((dx == 0) ^ (dy == 0)).all())  # along a row or a column, never both
    assert int((dx.abs() + dy.abs()).min()) >= 1 and int((dx.abs() + dy.abs()).max()) == 4
    assert (dx != 0).any() and (dy != 0).any()
    assert bool((x >= 0).all() and (x < data.width).all() and (y >= 0).all() and (y < data.height).all())
    # the rays go through those pixels of those frames
    origins2, dirs2 = rays_through_pixels(
        data.K, data.c2w[batch["frames"].repeat_interleave(3)], x.reshape(-1) + 0.5, y.reshape(-1) + 0.5
    )
    assert torch.allclose(dirs2, batch["dirs"], atol=1e-5) and torch.allclose(origins2, batch["origins"])
    assert batch["rgb"].shape == (500, 3, 3) and batch["segments"].shape == (500, 3)
    assert bool((batch["cos"] > 0.5).all()) and bool((batch["cos"] <= 1.0 + 1e-6).all())


def test_training_with_the_prior_logs_it_and_flattens_the_rendered_depth(train_tiny_steps):
    """On the tiny scene the loss is logged, finite, and lower after training with the prior than without
    (measured on the same triplets, by the same loss)."""
    measured = {}
    for weight in (0.0, 1.0):
        trainer, metrics = train_tiny_steps("planarity", weight)
        assert ("planarity" in metrics) == (weight > 0)
        batch = sample_triplets(trainer.data, 2000, torch.Generator().manual_seed(1), 4)
        with torch.no_grad():
            out = render_rays(
                trainer.field, batch["origins"], batch["dirs"], trainer.config.render, return_samples=True,
                outputs=(), shaded_rays=0,
            )  # fmt: skip
            flat = flatness_weights(batch["rgb"], batch["segments"], batch["usable"], 0.03)
            measured[weight] = float(compute_planarity_loss(out["weights"], out["t"], batch["cos"], flat))
    assert measured[1.0] < measured[0.0], measured
