"""Volume rendering maths: weights from densities and accumulation along rays."""

from __future__ import annotations

import torch


def render_weights_from_density(
    density: torch.Tensor,  # (num_rays, num_samples) sigma >= 0
    deltas: torch.Tensor,  # (num_rays, num_samples) segment lengths
) -> tuple[torch.Tensor, torch.Tensor]:
    """w_i = T_i (1 - exp(-sigma_i delta_i)),  T_i = prod_{j<i} exp(-sigma_j delta_j) = exp(-sum_{j<i} sigma_j delta_j).

    Returns weights and transmittance T, both (num_rays, num_samples); sum_i w_i = 1 - T_final <= 1.
    """
    optical = density * deltas
    alpha = 1.0 - torch.exp(-optical)
    exclusive = torch.cumsum(optical, dim=-1) - optical
    transmittance = torch.exp(-exclusive)
    return transmittance * alpha, transmittance


def accumulate_along_rays(
    weights: torch.Tensor,  # (num_rays, num_samples)
    values: torch.Tensor,  # (num_rays, num_samples, D)
) -> torch.Tensor:
    """f_r = sum_i w_i f_i, (num_rays, D)."""
    return (weights[..., None] * values).sum(dim=-2)


def accumulate_sparse(
    weights: torch.Tensor,  # (num_points,) weights of the evaluated samples
    values: torch.Tensor,  # (num_points, D)
    ray_indices: torch.Tensor,  # (num_points,) long, the ray of each sample
    num_rays: int,
) -> torch.Tensor:
    """f_r = sum_{i in ray r} w_i f_i over a flat list of samples (only significant samples evaluated)."""
    out = values.new_zeros(num_rays, values.shape[-1])
    return out.index_add(0, ray_indices, weights[:, None] * values)
