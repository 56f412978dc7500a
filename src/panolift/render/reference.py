"""The dense reference renderer: the textbook volume-rendering sums with nothing skipped.

Every sample of every ray is evaluated with the full field call, and the weights are computed as the
product they are defined by, not by a cumulative sum of log-transmittance:

    alpha_i = 1 - exp(-sigma_i delta_i),   T_i = prod_{j<i} (1 - alpha_j),   w_i = T_i alpha_i,
    f_r = sum_i w_i f_i  (rgb adds (1 - sum_i w_i) * background).

Samples sit where the fast renderer puts them (steps of the same length from the same start), so the
two differ only by the fast renderer's approximations (:mod:`panolift.render.renderer`). Slow and
memory-hungry: for tests and for checking a trained field, never for training.
"""

from __future__ import annotations

import torch

from panolift.config import RenderConfig

from .renderer import SamplingDomain, place_samples, sampling_domain
from .volume import accumulate_along_rays


def weights_by_product(density: torch.Tensor, deltas: torch.Tensor) -> torch.Tensor:
    """w_i = prod_{j<i} (1 - alpha_j) * alpha_i with alpha = 1 - exp(-sigma delta), (num_rays, num_samples),
    computed sample by sample."""
    alpha = 1.0 - torch.exp(-density * deltas)
    transmittance = torch.ones_like(alpha[:, 0])
    weights = []
    for i in range(alpha.shape[1]):
        weights.append(transmittance * alpha[:, i])
        transmittance = transmittance * (1.0 - alpha[:, i])
    return torch.stack(weights, dim=1) if weights else alpha


@torch.no_grad()
def render_rays_reference(
    field,
    origins: torch.Tensor,  # (num_rays, 3) normalised coordinates
    dirs: torch.Tensor,  # (num_rays, 3) unit
    config: RenderConfig,
    domain: SamplingDomain | None = None,
) -> dict[str, torch.Tensor]:
    """rgb (num_rays, 3), depth, opacity (num_rays,), semantics and instance (when the field has them) by
    the textbook sums over every sample in the box (no occupancy skipping, no early termination, no
    weight threshold, no cap). Samples sit at step centres (no jitter)."""
    domain = domain or sampling_domain(field, config, origins.device)
    domain = SamplingDomain(domain.aabb, None, domain.step_size)
    points, t, valid = place_samples(origins, dirs, domain, config.near)
    num_rays, num_samples = t.shape
    out = field(points.reshape(-1, 3), dirs[:, None, :].expand(-1, num_samples, -1).reshape(-1, 3))
    density = torch.where(valid, out.density.reshape(num_rays, num_samples), torch.zeros_like(t))
    deltas = torch.full_like(t, domain.step_size)
    weights = weights_by_product(density, deltas)
    opacity = weights.sum(dim=-1)

    def render(values: torch.Tensor) -> torch.Tensor:
        return accumulate_along_rays(weights, values.reshape(num_rays, num_samples, -1))

    result = {
        "rgb": render(out.rgb) + (1.0 - opacity)[:, None] * config.background,
        "depth": (weights * t).sum(dim=-1),
        "opacity": opacity,
    }
    if out.semantics is not None:
        result["semantics"] = render(out.semantics)
    if out.instance is not None:
        result["instance"] = render(out.instance)
    return result
