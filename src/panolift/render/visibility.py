"""What rays of the training views see of a field: the voxels they reach, and the density at which
they become opaque. Both march evenly spaced samples through the field's box with the renderer's weights
(:func:`panolift.render.volume.render_weights_from_density`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .probe import box_of, evaluate_density
from .rays import intersect_aabb
from .sampling import sample_evenly
from .volume import render_weights_from_density

log = logging.getLogger(__name__)


@dataclass
class MarchedRays:
    """Evenly spaced samples of a chunk of rays through a box, with the field's density and weights."""

    points: torch.Tensor  # (num_rays, num_samples, 3)
    density: torch.Tensor  # (num_rays, num_samples)
    weights: torch.Tensor  # (num_rays, num_samples)
    transmittance: torch.Tensor  # (num_rays, num_samples) before each sample


@torch.no_grad()
def march_evenly(
    field,
    origins: torch.Tensor,  # (num_rays, 3) field coordinates
    dirs: torch.Tensor,  # (num_rays, 3) unit
    aabb: torch.Tensor,  # (2, 3)
    num_samples: int,
    chunk_rays: int = 1024,
) -> Iterator[MarchedRays]:
    """Chunks of the rays that hit ``aabb``, each sampled at ``num_samples`` midpoints between the ray's
    entry and exit (:func:`~panolift.render.sampling.sample_evenly`); rays that miss are left out."""
    aabb = aabb.to(origins)
    for i in range(0, origins.shape[0], chunk_rays):
        o, d = origins[i : i + chunk_rays], dirs[i : i + chunk_rays]
        t_near, t_far = intersect_aabb(o, d, aabb)
        hit = t_far > t_near
        if not bool(hit.any()):
            continue
        o, d, t_near, t_far = o[hit], d[hit], t_near[hit], t_far[hit]
        t, deltas = sample_evenly(t_near, t_far, num_samples)
        points = o[:, None, :] + t[..., None] * d[:, None, :]
        density = evaluate_density(field, points.reshape(-1, 3)).reshape(t.shape).to(o.dtype)
        weights, transmittance = render_weights_from_density(density, deltas)
        yield MarchedRays(points, density, weights, transmittance)


@torch.no_grad()
def estimate_surface_density(
    field,
    origins: torch.Tensor,  # (num_rays, 3) field coordinates
    dirs: torch.Tensor,  # (num_rays, 3) unit
    num_samples: int = 256,
    chunk_rays: int = 1024,
) -> float | None:
    """The density level at which rays become opaque, i.e. the level of the rendered surface:

        sigma_0 = median_r sigma_r(t*_r),   t*_r = min { t_i : T_r(t_i) <= 1/2 }

    over rays r that become at least half opaque inside the field's box (None when none does). A sharp
    field jumps from ~0 to a large density at surfaces and any level in between gives the same surface; a
    blurry one does not, and a fixed level then finds no surface or a fog.
    """
    values = []
    for marched in march_evenly(field, origins, dirs, box_of(field), num_samples, chunk_rays):
        crossed = marched.transmittance <= 0.5
        first = crossed.float().argmax(dim=-1)
        ok = crossed.any(dim=-1)
        values.append(marched.density[ok, first[ok]].float().cpu())
    count = sum(v.numel() for v in values)
    if count == 0:
        return None
    level = float(torch.cat(values).median())
    log.info("surface density level %.3g from %d rays", level, count)
    return level


@torch.no_grad()
def compute_visibility(
    field,
    aabb: torch.Tensor,  # (2, 3)
    occupied: torch.Tensor,  # (X, Y, Z) bool
    origins: torch.Tensor,  # (num_rays, 3) field coordinates
    dirs: torch.Tensor,  # (num_rays, 3) unit
    min_weight: float = 0.05,
    samples_per_voxel: float = 2.0,
    chunk_rays: int = 1024,
) -> torch.Tensor:
    """(X, Y, Z) bool: the occupied voxels the rays saw, from evenly spaced samples along each ray
    (about ``samples_per_voxel`` per voxel crossed) with w_i = T_i (1 - exp(-sigma_i delta_i)).

    A voxel is seen free space when it is not occupied and some sample in it has T_i >= 1/2; an occupied
    voxel is visible when some sample in it has w_i >= ``min_weight`` or when it touches (26-neighbours)
    seen free space. The second rule makes the visible surface dense with few rays (a ray marks only
    one or two voxels of the surface it ends on, but crosses many free ones), while the inside of an
    object, which touches no seen free space and gets no weight, stays unseen.
    """
    resolution = tuple(occupied.shape)
    device = origins.device
    box = aabb.to(device, origins.dtype)
    res = torch.tensor(resolution, device=device)
    voxel = (box[1] - box[0]) / res
    num_samples = max(8, int(samples_per_voxel * float((box[1] - box[0]).norm() / voxel.min())))
    best_weight = torch.zeros(int(res.prod()), device=device)  # per voxel, flattened (C order)
    best_transmittance = torch.zeros(int(res.prod()), device=device)
    for marched in march_evenly(field, origins, dirs, box, num_samples, chunk_rays):
        points = marched.points.reshape(-1, 3)
        idx = torch.minimum(torch.floor((points - box[0]) / voxel).long().clamp_min(0), res - 1)
        flat = (idx[:, 0] * res[1] + idx[:, 1]) * res[2] + idx[:, 2]
        best_weight.scatter_reduce_(0, flat, marched.weights.reshape(-1), reduce="amax")
        best_transmittance.scatter_reduce_(0, flat, marched.transmittance.reshape(-1), reduce="amax")
    best_weight = best_weight.reshape(resolution).cpu()
    best_transmittance = best_transmittance.reshape(resolution).cpu()
    seen_free = (best_transmittance >= 0.5) & ~occupied
    near_free = F.max_pool3d(seen_free[None, None].float(), 3, stride=1, padding=1)[0, 0] > 0
    visible = occupied & ((best_weight >= min_weight) | near_free)
    log.debug(
        "%d of %d occupied voxels seen by %d rays", int(visible.sum()), int(occupied.sum()), len(origins)
    )
    return visible


@torch.no_grad()
def reach_ends(
    field,
    origins: torch.Tensor,  # (num_rays, 3) field coordinates
    dirs: torch.Tensor,  # (num_rays, 3) unit
    aabb: torch.Tensor,  # (2, 3)
    num_samples: int = 256,
    min_transmittance: float = 0.1,
    chunk_rays: int = 1024,
) -> torch.Tensor:
    """(num_hit, 3): for each ray that enters ``aabb``, the farthest of ``num_samples`` evenly spaced
    samples that light from the ray's camera still reaches, T_i >= ``min_transmittance``.

    Behind an opaque surface, e.g. outside the walls of a room, nothing is reached whatever density the
    field keeps there; a fog that has not yet become a surface lets the rays through, so the points err on
    the far side while the geometry forms.
    """
    ends = []
    for marched in march_evenly(field, origins, dirs, aabb, num_samples, chunk_rays):
        last = (marched.transmittance >= min_transmittance).sum(dim=-1).clamp_min(1) - 1
        ends.append(marched.points[torch.arange(last.shape[0], device=last.device), last])
    return torch.cat(ends) if ends else origins.new_zeros(0, 3)


__all__ = ["MarchedRays", "compute_visibility", "estimate_surface_density", "march_evenly", "reach_ends"]
