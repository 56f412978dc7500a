"""Sample positions along rays: jittered steps of fixed length (training and rendering), and a fixed
number of evenly spaced samples between two distances (field probing)."""

from __future__ import annotations

import torch


def sample_along_rays(
    t_near: torch.Tensor,  # (num_rays,)
    t_far: torch.Tensor,  # (num_rays,)
    step_size: float,
    max_samples: int,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Uniform samples t_i = t_near + (i + u) * step, u ~ U(0,1) per ray with a generator, else u = 1/2.

    Returns t (num_rays, num_samples) and valid (num_rays, num_samples) = t_i < t_far.
    """
    span = (t_far - t_near).clamp_min(0.0)
    num_samples = int(min(max_samples, max(1, int(torch.ceil(span.max() / step_size).item()))))
    if generator is None:
        offset = torch.full_like(t_near, 0.5)
    else:
        offset = torch.rand(t_near.shape, generator=generator, device=generator.device).to(t_near)
    i = torch.arange(num_samples, device=t_near.device, dtype=t_near.dtype)
    t = t_near[:, None] + (i[None, :] + offset[:, None]) * step_size
    return t, t < t_far[:, None]


def sample_evenly(
    t_near: torch.Tensor,  # (num_rays,)
    t_far: torch.Tensor,  # (num_rays,)
    num_samples: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``num_samples`` interval midpoints per ray: t_i = t_near + (t_far - t_near) (i + 1/2) / n, and their
    lengths delta = (t_far - t_near) / n. Returns t and deltas, both (num_rays, num_samples)."""
    u = (torch.arange(num_samples, device=t_near.device, dtype=t_near.dtype) + 0.5) / num_samples
    span = (t_far - t_near)[:, None]
    return t_near[:, None] + span * u[None, :], (span / num_samples).expand(-1, num_samples)
