"""Volume rendering against a slow reference, and its properties."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from panolift.config import RenderConfig
from panolift.field.outputs import FieldOutputs
from panolift.render import intersect_aabb, render_rays, render_weights_from_density


def reference_weights(sigma: np.ndarray, delta: np.ndarray) -> np.ndarray:
    """The textbook loop: T = 1; w_i = T (1 - exp(-sigma_i delta_i)); T *= exp(-sigma_i delta_i)."""
    weights = np.zeros_like(sigma)
    for r in range(sigma.shape[0]):
        transmittance = 1.0
        for i in range(sigma.shape[1]):
            alpha = 1.0 - math.exp(-sigma[r, i] * delta[r, i])
            weights[r, i] = transmittance * alpha
            transmittance *= 1.0 - alpha
    return weights


def test_weights_match_reference():
    gen = torch.Generator().manual_seed(0)
    sigma = torch.rand(7, 33, generator=gen, dtype=torch.float64) * 20
    delta = torch.rand(7, 33, generator=gen, dtype=torch.float64) * 0.1
    weights, _ = render_weights_from_density(sigma, delta)
    np.testing.assert_allclose(
        weights.numpy(), reference_weights(sigma.numpy(), delta.numpy()), rtol=1e-10, atol=1e-12
    )


@settings(max_examples=30, deadline=None)
@given(
    st.lists(st.floats(0, 1e4, allow_nan=False), min_size=1, max_size=40),
    st.floats(1e-4, 1.0),
)
def test_weights_are_a_subprobability(sigmas, delta):
    sigma = torch.tensor([sigmas], dtype=torch.float64)
    weights, transmittance = render_weights_from_density(sigma, torch.full_like(sigma, delta))
    assert (weights >= 0).all()
    assert float(weights.sum()) <= 1.0 + 1e-9
    assert (transmittance <= 1.0).all() and (transmittance[:, 1:] <= transmittance[:, :-1] + 1e-12).all()


def test_delta_density_gives_one_hot_weights():
    sigma = torch.zeros(1, 20, dtype=torch.float64)
    sigma[0, 7] = 1e6
    weights, _ = render_weights_from_density(sigma, torch.full_like(sigma, 0.05))
    expected = torch.zeros_like(weights)
    expected[0, 7] = 1.0
    torch.testing.assert_close(weights, expected)


class StepField(torch.nn.Module):
    """A wall at x = wall: density 0 before it, huge after; colour red, class 2, slot 1."""

    def __init__(self, wall: float, num_classes: int = 4, num_slots: int = 3):
        super().__init__()
        self.wall, self.num_classes, self.num_slots = wall, num_classes, num_slots

    def forward(self, points, dirs):
        sigma = torch.where(points[:, 0] > self.wall, 1e4, 0.0).to(points)
        rgb = torch.tensor([1.0, 0.0, 0.0]).expand(points.shape[0], 3)
        sem = torch.nn.functional.one_hot(torch.full((points.shape[0],), 2), self.num_classes).float()
        ins = torch.nn.functional.one_hot(torch.full((points.shape[0],), 1), self.num_slots).float()
        return FieldOutputs(density=sigma, rgb=rgb, semantics=sem, instance=ins)


class StepFieldWithDensity(StepField):
    """The same field exposing ``density``: the renderer's two-pass path (weights first, heads after)."""

    def density(self, points):
        return self.forward(points, points).density


def test_depth_of_a_step_density_both_paths():
    config = RenderConfig(step_ratio=1.0, near=0.0)
    origins = torch.tensor([[-0.9, 0.0, 0.0], [-0.9, 0.1, -0.2]])
    dirs = torch.tensor([[1.0, 0.0, 0.0], [1.0, 0.0, 0.0]])
    for field in (StepField(0.3), StepFieldWithDensity(0.3)):
        out = render_rays(field, origins, dirs, config)
        step = 2.0 / 128  # the renderer's fallback voxel for fields without voxel_size
        torch.testing.assert_close(out["depth"], torch.full((2,), 1.2), atol=step, rtol=0)
        torch.testing.assert_close(out["opacity"], torch.ones(2))
        torch.testing.assert_close(out["rgb"], torch.tensor([[1.0, 0.0, 0.0]] * 2))
        assert out["semantics"].argmax(-1).tolist() == [2, 2]
        assert out["instance"].argmax(-1).tolist() == [1, 1]


def test_one_pass_and_two_pass_agree_on_a_smooth_field():
    class Fog(torch.nn.Module):
        def forward(self, points, dirs):
            sigma = 2.0 * torch.exp(-(points**2).sum(-1) * 4)
            rgb = torch.sigmoid(points)
            return FieldOutputs(density=sigma, rgb=rgb, semantics=torch.softmax(points, -1), instance=None)

    class FogWithDensity(Fog):
        def density(self, points):
            return 2.0 * torch.exp(-(points**2).sum(-1) * 4)

    config = RenderConfig(weight_threshold=0.0, termination_threshold=1e-9, march_segment=16)
    origins = torch.tensor([[-1.0, -0.2, 0.1], [0.0, -1.0, 0.3], [0.5, 0.5, -1.0]])
    dirs = torch.nn.functional.normalize(
        torch.tensor([[1.0, 0.2, 0.0], [0.0, 1.0, 0.1], [-0.3, -0.2, 1.0]]), dim=-1
    )
    a = render_rays(Fog(), origins, dirs, config)
    b = render_rays(FogWithDensity(), origins, dirs, config)
    for key in ("rgb", "depth", "opacity", "semantics"):
        torch.testing.assert_close(a[key], b[key])
    assert "instance" not in a


def test_intersect_aabb_matches_reference():
    gen = torch.Generator().manual_seed(1)
    aabb = torch.tensor([[-0.5, -0.3, -0.8], [0.6, 0.4, 0.2]], dtype=torch.float64)
    origins = torch.rand(200, 3, generator=gen, dtype=torch.float64) * 4 - 2
    dirs = torch.nn.functional.normalize(torch.randn(200, 3, generator=gen, dtype=torch.float64), dim=-1)
    t_near, t_far = intersect_aabb(origins, dirs, aabb)
    ts = torch.linspace(0, 6, 6001, dtype=torch.float64)
    for r in range(0, 200, 7):
        pts = origins[r] + ts[:, None] * dirs[r]
        inside = ((pts >= aabb[0]) & (pts <= aabb[1])).all(-1)
        if inside.any():
            assert t_far[r] > t_near[r]
            assert abs(float(ts[inside][0]) - float(t_near[r])) < 2e-3
            assert abs(float(ts[inside][-1]) - float(t_far[r])) < 2e-3
        else:
            assert t_far[r] <= t_near[r] + 2e-3


class ForwardingWrapper(torch.nn.Module):
    """Like the edit wrappers: forwards unknown attributes to the wrapped field, empties the half x < 0.5."""

    def __init__(self, field):
        super().__init__()
        self.field = field

    def __getattr__(self, name):
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(self._modules["field"], name)

    def forward(self, points, dirs):
        out = self.field(points, dirs)
        density = torch.where(points[:, 0] < 0.5, torch.zeros_like(out.density), out.density)
        return FieldOutputs(density=density, rgb=out.rgb, semantics=out.semantics, instance=out.instance)


def test_a_forwarding_wrapper_is_rendered_through_its_own_call():
    """The wrapped field's ``density`` shortcut must not bypass the wrapper (it would undo the edit)."""
    config = RenderConfig(step_ratio=1.0, near=0.0)
    origins = torch.tensor([[-0.9, 0.0, 0.0]])
    dirs = torch.tensor([[1.0, 0.0, 0.0]])
    inner = StepFieldWithDensity(0.3)
    assert float(render_rays(inner, origins, dirs, config)["depth"][0]) == pytest.approx(1.2, abs=0.02)
    wrapped = render_rays(ForwardingWrapper(inner), origins, dirs, config)
    assert float(wrapped["depth"][0]) == pytest.approx(1.4, abs=0.02)  # the wall now starts at x = 0.5
