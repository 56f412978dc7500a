"""The colour MLP's logit bound (FieldConfig.color_logit_bound): a colour pushed to black by the early fog
comes back once there is something to colour."""

from __future__ import annotations

import math

import torch

from panolift.config import fast_config, paper_config, quick_config, tiny_config
from panolift.field.tensorf import ColorMLP, InwardClamp
from panolift.runs.validate import config_problems


def test_inward_clamp_passes_only_the_gradients_that_pull_back_inside():
    x = torch.tensor([-9.0, -9.0, 0.5, 0.5, 9.0, 9.0], requires_grad=True)
    y = InwardClamp.apply(x, 6.0)
    assert y.tolist() == [-6.0, -6.0, 0.5, 0.5, 6.0, 6.0]
    # d loss / d y: the sign decides the descent direction (x -= lr * grad)
    grad = torch.tensor([1.0, -1.0, 1.0, -1.0, 1.0, -1.0])
    (y * grad).sum().backward()
    # below: +1 would push further down (dropped), -1 pulls up; inside: both; above: +1 pulls down
    assert x.grad.tolist() == [0.0, -1.0, 1.0, -1.0, 1.0, 0.0]


def _fog_then_surface(bound: float) -> float:
    """A colour MLP pushed towards black for 60 Adam steps (the fog: a target it cannot reach), then fitted
    to mid-grey for 150: the mean colour it ends at."""
    torch.manual_seed(0)
    mlp = ColorMLP(8, 32, pe_features=0, pe_view=0, logit_bound=bound)
    features, dirs = torch.randn(256, 8) * 0.01, torch.nn.functional.normalize(torch.randn(256, 3), dim=-1)
    optimizer = torch.optim.Adam(mlp.parameters(), lr=0.02, betas=(0.9, 0.99))
    for step in range(210):
        rgb = mlp(features, dirs)
        loss = rgb.mean() if step < 60 else (rgb - 0.5).pow(2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        return float(mlp(features, dirs).mean())


def test_a_colour_driven_to_black_recovers_with_the_bound_and_stays_black_without():
    assert _fog_then_surface(0.0) < 0.01  # the sigmoid's slope under Adam's epsilon: dead for good
    for bound in (6.0, fast_config().field.color_logit_bound):
        assert abs(_fog_then_surface(bound) - 0.5) < 0.1


def test_the_bound_leaves_colours_within_a_grey_level_of_black():
    mlp = ColorMLP(4, 16, pe_features=0, pe_view=0, logit_bound=6.0)
    with torch.no_grad():
        mlp.net[-1].bias.fill_(-50.0)
    with torch.no_grad():
        rgb = mlp(torch.zeros(3, 4), torch.nn.functional.normalize(torch.randn(3, 3), dim=-1))
    torch.testing.assert_close(rgb, torch.full((3, 3), 1 / (1 + math.exp(6.0))))
    assert float(rgb.max()) < 1 / 255  # black stays within one 8-bit grey level


def test_a_negative_bound_is_refused_and_the_fast_presets_bound_their_colour():
    config = tiny_config()
    config.field.color_logit_bound = -1.0
    assert config_problems(config) == [("field.color_logit_bound", -1.0, "at least 0")]
    assert fast_config().field.color_logit_bound == quick_config().field.color_logit_bound == 11.0
    assert paper_config().field.color_logit_bound == 0.0  # the authors' unbounded sigmoid
