"""Render a batch of rays through any field ``field(points, dirs) -> FieldOutputs``.

The renderer needs nothing but that call. It reads ``field.aabb`` (2, 3) (where to sample; default the
unit box [-1, 1]^3) and ``field.voxel_size`` (3,) (the step) when present, and uses two speed-ups only when
the field's OWN CLASS defines them (so that a wrapper which forwards unknown attributes to the field it
wraps, like the edit wrappers, never inherits them by accident):

- ``density(points) -> (num_points,)``: the renderer marches density alone first, then calls
  ``field(points, dirs)`` only on samples whose weight exceeds ``weight_threshold``. Without it the
  renderer marches with full calls and keeps their outputs. Either way rays stop once their
  transmittance falls below ``termination_threshold`` (early ray termination, in segments of samples).
- ``occupancy`` -> OccupancyGrid | None: cells to skip. A wrapper that moves content must not reuse the
  wrapped field's grid (the moved content would fall in "empty" cells); without it nothing is skipped.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from panolift.config import RenderConfig
from panolift.field.outputs import FieldOutputs

from .rays import intersect_aabb
from .sampling import OccupancyGrid, sample_along_rays
from .volume import accumulate_sparse, render_weights_from_density

UNIT_BOX = ((-1.0, -1.0, -1.0), (1.0, 1.0, 1.0))


@dataclass
class SamplingDomain:
    """Where and how finely to sample a field."""

    aabb: torch.Tensor  # (2, 3)
    occupancy: OccupancyGrid | None
    step_size: float


def own_attribute(field, name: str):
    """``field.name`` if the field's class defines ``name`` itself (not forwarded by ``__getattr__``)."""
    return getattr(field, name) if getattr(type(field), name, None) is not None else None


def sampling_domain(field, config: RenderConfig, device: torch.device) -> SamplingDomain:
    """The field's box, occupancy and step (half a voxel by default), with fallbacks for plain fields."""
    aabb = getattr(field, "aabb", None)
    if not isinstance(aabb, torch.Tensor):
        aabb = torch.tensor(UNIT_BOX, device=device)
    voxel = getattr(field, "voxel_size", None)
    voxel_size = float(voxel.mean()) if isinstance(voxel, torch.Tensor) else 2.0 / 128
    return SamplingDomain(aabb.to(device), own_attribute(field, "occupancy"), config.step_ratio * voxel_size)


def _march_density(evaluate, points, dirs, mask, deltas, config: RenderConfig) -> torch.Tensor:
    """Density (num_rays, num_samples) on ``mask``ed samples, segment by segment; a segment is skipped for
    rays whose transmittance already fell below ``termination_threshold`` (early ray termination).
    ``evaluate(points, dirs, rows, cols) -> (num_points,)`` gives the density of the selected samples."""
    num_rays, num_samples = mask.shape
    max_optical = -math.log(config.termination_threshold)
    optical = points.new_zeros(num_rays)  # detached: only decides which rays are still alive
    parts = []
    for s0 in range(0, num_samples, config.march_segment):
        s1 = min(num_samples, s0 + config.march_segment)
        seg_mask = mask[:, s0:s1] & (optical < max_optical)[:, None]
        sigma = points.new_zeros(num_rays, s1 - s0)
        if seg_mask.any():
            rows, cols = seg_mask.nonzero(as_tuple=True)
            density = evaluate(points[rows, s0 + cols], dirs[rows], rows, s0 + cols)
            sigma = sigma.index_put((rows, cols), density)
        optical = optical + (sigma.detach() * deltas[:, s0:s1]).sum(dim=-1)
        parts.append(sigma)
    return torch.cat(parts, dim=1)


class _OutputsCache:
    """Collects every FieldOutputs of a one-pass march, to pick the significant samples out afterwards."""

    def __init__(self, field):
        self.field, self.pieces = field, []

    def __call__(self, points, dirs, rows, cols) -> torch.Tensor:
        out = self.field(points, dirs)
        self.pieces.append((rows, cols, out))
        return out.density

    def pick(self, shape: tuple[int, int], rows: torch.Tensor, cols: torch.Tensor) -> FieldOutputs:
        """The outputs at samples (rows, cols) (each of them must have been evaluated)."""
        device = rows.device
        position = torch.full(shape, -1, dtype=torch.long, device=device)
        start = 0
        for r, c, _out in self.pieces:
            position[r, c] = torch.arange(start, start + r.shape[0], device=device)
            start += r.shape[0]
        pick = position[rows, cols]

        def gather(name: str) -> torch.Tensor | None:
            values = [getattr(out, name) for _, _, out in self.pieces]
            if not values or values[0] is None:
                return None
            return torch.cat(values)[pick]

        if not self.pieces:  # nothing in the box: empty outputs, as a field call on no points gives
            empty = self.field(rows.new_zeros(0, 3).float(), rows.new_zeros(0, 3).float())
            return empty
        return FieldOutputs(
            density=gather("density"),
            rgb=gather("rgb"),
            semantics=gather("semantics"),
            instance=gather("instance"),
        )


def select_significant(
    weights: torch.Tensor, valid: torch.Tensor, threshold: float, max_per_ray: int
) -> torch.Tensor:
    """Samples (num_rays, num_samples) bool with w_i > threshold, at most the ``max_per_ray`` largest."""
    significant = valid & (weights > threshold)
    if 0 < max_per_ray < weights.shape[1]:
        top = torch.where(significant, weights, -1.0).topk(max_per_ray, dim=1).indices
        capped = torch.zeros_like(significant).scatter(1, top, True)
        significant = significant & capped
    return significant


def render_rays(
    field,
    origins: torch.Tensor,  # (num_rays, 3) normalised coordinates
    dirs: torch.Tensor,  # (num_rays, 3) unit
    config: RenderConfig,
    generator: torch.Generator | None = None,
    gradient_blocking: bool = True,
    domain: SamplingDomain | None = None,
    weight_threshold: float | None = None,
    return_samples: bool = False,
) -> dict[str, torch.Tensor]:
    """Volume-render colour, depth (along the ray), opacity, semantics and instance slots.

    rgb_r = sum_i w_i c_i + (1 - sum_i w_i) * background;  depth_r = sum_i w_i t_i;  semantics_r =
    sum_i w'_i kappa_i, instance_r = sum_i w'_i pi_i with w' = stopgrad(w) when ``gradient_blocking``.
    ``generator`` jitters the samples (training); without it samples sit at step centres.
    ``weight_threshold`` overrides ``config.weight_threshold`` (the trainer uses 0 while the density is
    still a faint fog, when no sample would pass and colour would get no gradient).
    Returns rgb (num_rays, 3), depth, opacity (num_rays,), semantics (num_rays, num_classes) and
    instance (num_rays, num_slots) (absent when the field has no such head), num_samples (evaluated);
    with ``return_samples`` also weights, t and deltas (num_rays, num_samples) (for regularisers).
    """
    num_rays = origins.shape[0]
    domain = domain or sampling_domain(field, config, origins.device)
    t_near, t_far = intersect_aabb(origins, dirs, domain.aabb)
    t_near = t_near.clamp_min(config.near)
    max_samples = int(math.ceil(float((domain.aabb[1] - domain.aabb[0]).norm()) / domain.step_size)) + 1
    t, valid = sample_along_rays(t_near, t_far, domain.step_size, max_samples, generator)
    points = origins[:, None, :] + t[..., None] * dirs[:, None, :]
    if domain.occupancy is not None:
        valid = valid & domain.occupancy.query(points.reshape(-1, 3)).reshape(valid.shape)
    deltas = torch.full_like(t, domain.step_size)

    density_fn = own_attribute(field, "density")
    two_pass = callable(density_fn)
    cache = None if two_pass else _OutputsCache(field)
    evaluate = (lambda p, d, r, c: density_fn(p)) if two_pass else cache
    sigma = _march_density(evaluate, points, dirs, valid, deltas, config)
    weights, _ = render_weights_from_density(sigma, deltas)
    opacity = weights.sum(dim=-1)
    threshold = config.weight_threshold if weight_threshold is None else weight_threshold
    significant = select_significant(weights.detach(), valid, threshold, config.max_evaluated_per_ray)
    significant = significant & (sigma.detach() > 0)  # skipped (terminated) samples have no outputs
    sig_rows, sig_cols = significant.nonzero(as_tuple=True)
    if two_pass:
        out = field(points[sig_rows, sig_cols], dirs[sig_rows])
    else:
        out = cache.pick(t.shape, sig_rows, sig_cols)
    w = weights[sig_rows, sig_cols]
    w_heads = w.detach() if gradient_blocking else w
    result = {
        "rgb": accumulate_sparse(w, out.rgb, sig_rows, num_rays)
        + (1.0 - opacity)[:, None] * config.background,
        "depth": (weights * t).sum(dim=-1),
        "opacity": opacity,
        "num_samples": torch.tensor(int(valid.sum()), device=t.device),
    }
    if return_samples:
        result.update(weights=weights, t=t, deltas=deltas)
    if out.semantics is not None:
        result["semantics"] = accumulate_sparse(w_heads, out.semantics, sig_rows, num_rays)
    if out.instance is not None:
        result["instance"] = accumulate_sparse(w_heads, out.instance, sig_rows, num_rays)
    return result
