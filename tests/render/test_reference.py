"""The fast renderer against the dense reference renderer, one speed-up switch at a time.

The reference samples every step, calls the field on every sample and sums the textbook weights
(:mod:`panolift.render.reference`). With every switch off the fast renderer must agree to float precision;
each switch on its own must stay within the error bound its docstring states.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from panolift.config import RenderConfig, tiny_config
from panolift.field import PanopticField, compute_occupancy, resolution_from_voxels
from panolift.field.outputs import FieldOutputs
from panolift.render import render_rays, render_rays_reference, sampling_domain
from panolift.render.reference import weights_by_product
from panolift.render.renderer import place_samples
from panolift.scene import SCANNET21

EXACT = RenderConfig(
    near=0.0, step_ratio=1.0, weight_threshold=0.0, max_evaluated_per_ray=0, termination_threshold=0.0,
    skip_empty=False,
)  # fmt: skip
KEYS = ("rgb", "depth", "opacity", "semantics", "instance")


def _field(peak: float = 14.0) -> PanopticField:
    """A tiny random field whose density is a soft ball of radius ~0.5 (feature ``peak`` at its centre;
    softplus(feature - 10) * 25), with random colours and labels, and an occupancy grid."""
    torch.manual_seed(0)
    field = PanopticField(tiny_config().field, num_classes=SCANNET21.num_classes)
    grid = field.density_grid
    with torch.no_grad():
        for plane, line in zip(grid.planes, grid.lines, strict=True):
            ys = torch.linspace(-1, 1, plane.shape[2])[:, None]
            xs = torch.linspace(-1, 1, plane.shape[3])[None, :]
            plane.zero_()
            plane[0, 0] = (peak / 3) * torch.exp(-(xs**2 + ys**2) / 0.25)
            line.zero_()
            line[0, 0, :, 0] = torch.exp(-(torch.linspace(-1, 1, line.shape[2]) ** 2) / 0.25)
    field.eval()
    aabb = field.aabb
    occupancy = compute_occupancy(field.density, aabb, resolution_from_voxels(aabb, 32), 0.05, 1e-4)
    field.set_occupancy(occupancy.aabb, occupancy.mask)
    return field


def _rays(count: int = 96) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(3)
    origins = torch.randn(count, 3, generator=gen) * 0.3 + torch.tensor([0.0, 0.0, -1.6])
    targets = torch.rand(count, 3, generator=gen) * 1.2 - 0.6
    return origins, torch.nn.functional.normalize(targets - origins, dim=-1)


def _missing_weight(field, origins, dirs, config: RenderConfig, keep_per_ray) -> torch.Tensor:
    """(num_rays,) reference weight outside the ``keep_per_ray(weights)`` samples."""
    domain = sampling_domain(field, config, origins.device)
    points, t, valid = place_samples(origins, dirs, domain, config.near)
    density = torch.where(valid, field.density(points.reshape(-1, 3)).reshape(t.shape), torch.zeros_like(t))
    weights = weights_by_product(density, torch.full_like(t, domain.step_size))
    return (weights * ~keep_per_ray(weights)).sum(-1)


@torch.no_grad()
def test_with_every_switch_off_the_fast_path_is_the_reference():
    field, (origins, dirs) = _field(), _rays()
    fast, ref = render_rays(field, origins, dirs, EXACT), render_rays_reference(field, origins, dirs, EXACT)
    assert float(ref["opacity"].max()) > 0.9 and float(ref["opacity"].min()) < 0.5  # opaque and clear rays
    for key in KEYS:
        torch.testing.assert_close(fast[key], ref[key], atol=2e-5, rtol=1e-4)


@torch.no_grad()
def test_early_termination_loses_at_most_the_remaining_transmittance():
    field, (origins, dirs) = _field(20.0), _rays()
    config = dataclasses.replace(EXACT, termination_threshold=1e-2, march_segment=4)
    fast, ref = render_rays(field, origins, dirs, config), render_rays_reference(field, origins, dirs, EXACT)
    assert float((fast["opacity"] > 1 - 1e-2).float().mean()) > 0.3  # some rays terminate early
    for key in ("rgb", "semantics", "instance", "opacity"):
        assert float((fast[key] - ref[key]).abs().max()) <= 1e-2 + 1e-5, key


@torch.no_grad()
def test_terminated_rays_place_no_samples_behind_the_surface():
    """Points are placed and looked up in the occupancy grid only for the steps the march reaches: behind
    an opaque ball nothing is looked up, and the rendering is the one that marches every step."""
    field, (origins, dirs) = _field(40.0), _rays()
    grid = field.occupancy
    queried = []

    class CountingGrid:  # the field's grid, counting the samples asked about
        aabb, mask = grid.aabb, grid.mask

        def query(self, points):  # a render without gradients asks for the placed points
            queried.append(points.shape[0])
            return grid.query(points)

        def along_rays(self, origins, dirs):
            lookup = grid.along_rays(origins, dirs)

            class Occupied:
                leap = lookup.leap  # the leap over empty space reads the clearance, not the samples

                def __call__(self, rays, t):
                    queried.append(rays.shape[0])
                    return lookup(rays, t)

            return Occupied()

    config = dataclasses.replace(EXACT, skip_empty=True, termination_threshold=1e-3, march_segment=4)
    domain = sampling_domain(field, config, origins.device)
    counting = dataclasses.replace(domain, occupancy=CountingGrid())
    lazy = render_rays(field, origins, dirs, config, domain=counting)
    everything = render_rays(field, origins, dirs, dataclasses.replace(config, termination_threshold=0.0))
    _, t, inside = place_samples(origins, dirs, dataclasses.replace(domain, occupancy=None), config.near)
    assert float((lazy["opacity"] > 1 - 1e-3).float().mean()) > 0.3  # many rays stop inside the ball
    assert 0 < sum(queried) < 0.8 * int(inside.sum())  # their far steps were never looked up
    assert int(lazy["num_samples"]) < int(everything["num_samples"])
    for key in ("rgb", "opacity", "semantics", "instance"):
        assert float((lazy[key] - everything[key]).abs().max()) <= 1e-3 + 1e-5, key
    assert float((lazy["depth"] - everything["depth"]).abs().max()) <= 1e-3 * float(t.max()) + 1e-5


@torch.no_grad()
def test_leaping_over_empty_space_renders_the_same_samples():
    """``leap_empty`` starts each ray's steps near the first occupied voxel: the same samples are marched
    (the ones left out were all skipped as empty), so the rendering is the same; fewer steps are stored."""
    field, (origins, dirs) = _field(40.0), _rays()
    tight = compute_occupancy(field.density, field.aabb, (32, 32, 32), 0.05, 0.05)  # the ball, no halo
    field.set_occupancy(tight.aabb, tight.mask)
    walk_config = dataclasses.replace(EXACT, skip_empty=True, leap_empty=False)
    walk = render_rays(field, origins, dirs, walk_config, return_samples=True)
    leap = render_rays(
        field, origins, dirs, dataclasses.replace(walk_config, leap_empty=True), return_samples=True
    )
    for key in KEYS:
        torch.testing.assert_close(leap[key], walk[key], atol=1e-5, rtol=1e-5)
    assert int(leap["num_samples"]) == int(walk["num_samples"]) > 0
    assert leap["t"].shape[1] < walk["t"].shape[1]


@torch.no_grad()
@pytest.mark.parametrize("threshold, cap", [(1e-3, 0), (0.0, 4), (1e-4, 12)])
def test_evaluating_a_subset_errs_by_at_most_the_missing_weight(threshold, cap):
    field, (origins, dirs) = _field(), _rays()
    config = dataclasses.replace(EXACT, weight_threshold=threshold, max_evaluated_per_ray=cap)

    def kept(weights):
        keep = weights > threshold
        if cap:
            keep &= torch.zeros_like(keep).scatter(1, weights.topk(cap, dim=1).indices, True)
        return keep

    missing = _missing_weight(field, origins, dirs, config, kept)
    assert float(missing.max()) > 1e-3  # the switch does drop samples on these rays
    fast, ref = render_rays(field, origins, dirs, config), render_rays_reference(field, origins, dirs, EXACT)
    torch.testing.assert_close(fast["opacity"], ref["opacity"], atol=2e-5, rtol=1e-4)
    for key in ("rgb", "semantics", "instance"):
        error = (fast[key] - ref[key]).abs().amax(dim=-1)
        assert (error <= missing + 1e-4).all(), f"{key}: {float((error - missing).max())}"


@torch.no_grad()
def test_the_cap_does_not_darken_a_fog_of_constant_colour():
    """The colour bias the cap once had: a fog whose weight spreads over many samples, colour (0.2, 0.5, 0.8)
    everywhere. Renormalised, the capped colour is opacity x colour, as the reference's."""

    class Fog(torch.nn.Module):
        aabb = torch.tensor([[-1.0, -1.0, -1.0], [1.0, 1.0, 1.0]])

        def forward(self, points, dirs):
            density = torch.full_like(points[:, 0], 0.4)
            rgb = torch.tensor([0.2, 0.5, 0.8]).expand(points.shape[0], 3)
            return FieldOutputs(density=density, rgb=rgb)

        def density(self, points):
            return torch.full_like(points[:, 0], 0.4)

    origins, dirs = _rays(16)
    config = dataclasses.replace(EXACT, max_evaluated_per_ray=6)
    fast, ref = render_rays(Fog(), origins, dirs, config), render_rays_reference(Fog(), origins, dirs, EXACT)
    torch.testing.assert_close(fast["rgb"], ref["rgb"], atol=1e-5, rtol=1e-5)
    expected = ref["opacity"][:, None] * torch.tensor([0.2, 0.5, 0.8])
    torch.testing.assert_close(fast["rgb"], expected, atol=1e-5, rtol=1e-5)


@torch.no_grad()
def test_occupancy_skipping_changes_next_to_nothing():
    field, (origins, dirs) = _field(), _rays()
    config = dataclasses.replace(EXACT, skip_empty=True)
    fast, ref = render_rays(field, origins, dirs, config), render_rays_reference(field, origins, dirs, EXACT)
    assert int(fast["num_samples"]) < int(render_rays(field, origins, dirs, EXACT)["num_samples"])
    for key in KEYS:
        assert float((fast[key] - ref[key]).abs().max()) < 5e-3, key


@torch.no_grad()
def test_the_preset_defaults_stay_close_to_the_reference():
    field, (origins, dirs) = _field(), _rays()
    config = dataclasses.replace(tiny_config().render, near=0.0, step_ratio=1.0)
    fast, ref = render_rays(field, origins, dirs, config), render_rays_reference(field, origins, dirs, EXACT)
    errors = {key: float((fast[key] - ref[key]).abs().max()) for key in ("rgb", "opacity", "semantics")}
    assert max(errors.values()) < 0.02, errors
    assert np.isfinite(float(fast["depth"].sum()))


def test_stratified_selection_reaches_the_far_samples_of_a_fog():
    """The largest weights of a fog are its nearest samples; the stratified draw spreads over the ray in
    proportion to the weights (and is still a subset, so the missing-weight bound holds)."""
    from panolift.render.renderer import select_significant

    weights = torch.exp(-0.05 * torch.arange(100.0))[None].repeat(64, 1) * 0.05  # a fog: decreasing
    valid = torch.ones_like(weights, dtype=torch.bool)
    largest = select_significant(weights, valid, 0.0, 8)
    drawn = select_significant(weights, valid, 0.0, 8, torch.Generator().manual_seed(0))
    assert largest.nonzero()[:, 1].max() == 7  # always the first 8
    far = drawn.nonzero()[:, 1]
    assert far.max() > 40 and (drawn.sum(1) <= 8).all() and (drawn.sum(1) >= 6).all()
    cdf = torch.cumsum(weights[0], 0) / weights[0].sum()
    mean_position = float(cdf[far].mean())  # draws are uniform in the CDF
    assert 0.4 < mean_position < 0.6


def test_nested_selection_is_two_selections_from_one_sort():
    """The colour cap and, inside it, the heads' cap from one sort of each ray's weights: the same masks
    as selecting the largest weights twice."""
    from panolift.render.renderer import select_nested, select_significant

    gen = torch.Generator().manual_seed(5)
    weights = torch.rand(200, 14, generator=gen) * (torch.rand(200, 14, generator=gen) > 0.4)
    valid = torch.rand(200, 14, generator=gen) > 0.2
    outer, inner = select_nested(weights, valid, 0.05, 8, 3)
    expected_outer = select_significant(weights, valid, 0.05, 8)
    assert outer.equal(expected_outer)
    assert inner.equal(select_significant(weights, expected_outer, 0.05, 3))
    assert int(inner.sum(1).max()) == 3 and (inner <= outer).all() and int(outer.sum(1).min()) < 8


def test_near_gradient_scaling_changes_gradients_only_near_the_camera():
    """Training with ``near_gradient_distance`` renders the same values; the gradient reaching each
    sample's density is the unscaled one times min(1, (t / d)^2) (Philip & Deschaintre 2023)."""
    from panolift.render.renderer import near_gradient_scale

    field, (origins, dirs) = _field(), _rays(48)
    origins = origins[:1].expand_as(origins)  # one camera: a sample's t is its distance from it
    field.train()
    config = dataclasses.replace(EXACT, near=0.05)
    scaled_config = dataclasses.replace(config, near_gradient_distance=2.0)
    grads, outputs = [], []
    for cfg in (config, scaled_config):
        captured, where = [], []
        original = field.density

        def density(points, original=original, captured=captured, where=where):
            value = original(points)
            value.register_hook(lambda g: captured.append(g.clone()))
            where.append(points.detach())
            return value

        field.density = density
        field.zero_grad()
        out = render_rays(field, origins, dirs, cfg, generator=torch.Generator().manual_seed(5),
                          return_samples=True)  # fmt: skip
        out["rgb"].sum().backward()
        del field.density
        grads.append(torch.cat(captured[::-1]))  # hooks run backwards through the segments
        outputs.append(out)
    torch.testing.assert_close(outputs[0]["rgb"], outputs[1]["rgb"])
    # the march's calls come first (the field's own call on the chosen samples gets no density gradient)
    marched = torch.cat(where)[: grads[1].shape[0]]
    scale = near_gradient_scale((marched - origins[0]).norm(dim=-1), 2.0)
    assert float(scale.min()) < 0.3 and float(scale.max()) == 1.0  # the rays start near, end far
    torch.testing.assert_close(grads[1], grads[0] * scale, atol=1e-9, rtol=1e-4)
    assert float(grads[1].abs().sum()) < 0.9 * float(grads[0].abs().sum())


@torch.no_grad()
def test_the_head_cap_errs_by_at_most_the_weight_it_leaves_out():
    """``max_head_samples_per_ray`` sums the heads over the largest weights of the colour samples only:
    colour is untouched, the labels stay within the weight left out of the heads."""
    field, (origins, dirs) = _field(), _rays()
    config = dataclasses.replace(EXACT, weight_threshold=1e-4, max_evaluated_per_ray=12)
    capped = dataclasses.replace(config, max_head_samples_per_ray=3)

    def kept(weights):
        keep = weights > 1e-4
        return keep & torch.zeros_like(keep).scatter(1, weights.topk(3, dim=1).indices, True)

    missing = _missing_weight(field, origins, dirs, capped, kept)
    assert float(missing.max()) > 1e-3  # the cap does leave samples out of the heads
    full, fast = render_rays(field, origins, dirs, config), render_rays(field, origins, dirs, capped)
    ref = render_rays_reference(field, origins, dirs, EXACT)
    torch.testing.assert_close(fast["rgb"], full["rgb"])
    torch.testing.assert_close(fast["opacity"], full["opacity"])
    for key in ("semantics", "instance"):
        error = (fast[key] - ref[key]).abs().amax(dim=-1)
        assert (error <= missing + 1e-4).all(), f"{key}: {float((error - missing).max())}"
        assert float((fast[key] - full[key]).abs().max()) > 1e-4  # and it is not the uncapped sum


class _Wrapped(torch.nn.Module):
    """The same field behind a plain ``forward`` (as an edit wrapper): one full call per sample."""

    def __init__(self, field):
        super().__init__()
        self.inner, self.aabb, self.voxel_size = field, field.aabb, field.voxel_size

    def forward(self, points, dirs):
        return self.inner(points, dirs)

    def density(self, points):
        return self.inner.density(points)

    @property
    def occupancy(self):
        return self.inner.occupancy


@pytest.mark.parametrize("head_cap", [0, 3])
def test_rendering_some_outputs_renders_them_as_a_full_rendering_does(head_cap):
    """Asking for a subset of the outputs (what training does: colour and semantics on R_S, semantics and
    instances on R_I) renders exactly those, with the values of a full rendering, through a field that
    evaluates outputs separately and through one that only has a full call; without colour, the density
    is marched without gradients."""
    field, (origins, dirs) = _field(), _rays()
    config = dataclasses.replace(tiny_config().render, near=0.0, max_head_samples_per_ray=head_cap)
    with torch.no_grad():
        full = render_rays(field, origins, dirs, config)
    for renderer_field in (field, _Wrapped(field)):
        heads = render_rays(renderer_field, origins, dirs, config, outputs=("semantics", "instance"))
        assert "rgb" not in heads
        assert (
            heads["semantics"].requires_grad and not heads["opacity"].requires_grad
        )  # heads learn, not density
        for key in ("semantics", "instance", "opacity", "depth"):
            torch.testing.assert_close(heads[key].detach(), full[key], atol=1e-6, rtol=1e-5)
        colour = render_rays(renderer_field, origins, dirs, config, outputs=("rgb",))
        assert "semantics" not in colour and "instance" not in colour
        assert colour["rgb"].requires_grad and colour["opacity"].requires_grad
        torch.testing.assert_close(colour["rgb"].detach(), full["rgb"], atol=1e-6, rtol=1e-5)
    unblocked = render_rays(field, origins, dirs, config, outputs=("semantics",), gradient_blocking=False)
    assert unblocked["semantics"].requires_grad and unblocked["opacity"].requires_grad
    with pytest.raises(ValueError, match="unknown outputs"):
        render_rays(field, origins, dirs, config, outputs=("colour",))


def test_shading_only_the_first_rays_leaves_their_values_and_everyones_weights():
    """``shaded_rays`` N (the trainer's matched-depth rays need only their weights): the first N rays get
    the colour and labels of a full rendering, every ray the same weights, depth and opacity; the rest
    get no colour (the background) and no labels, and their outputs pass no gradient to colour or heads."""
    field, (origins, dirs) = _field(), _rays()
    config = dataclasses.replace(tiny_config().render, near=0.0)
    with torch.no_grad():
        full = render_rays(field, origins, dirs, config, return_samples=True)
    part = render_rays(field, origins, dirs, config, return_samples=True, shaded_rays=60)
    for key in ("depth", "opacity", "weights"):
        torch.testing.assert_close(part[key].detach(), full[key], atol=1e-6, rtol=1e-5)
    for key in ("rgb", "semantics", "instance"):
        torch.testing.assert_close(part[key][:60].detach(), full[key][:60], atol=1e-6, rtol=1e-5)
    assert float(full["opacity"][60:].max()) > 0.5  # the unshaded rays do cross the ball
    assert part["semantics"][60:].abs().max() == 0 and part["instance"][60:].abs().max() == 0
    background = ((1.0 - part["opacity"][60:])[:, None] * config.background).expand(-1, 3)
    torch.testing.assert_close(part["rgb"][60:].detach(), background.detach(), atol=1e-6, rtol=1e-5)
    part["rgb"][60:].sum().backward()  # only through the opacity: the density, never the colour
    assert all(p.grad is None or p.grad.abs().max() == 0 for p in field.color_parameters())
