"""Rays against the field's box: slab intersection and world -> normalised ray conversion."""

from __future__ import annotations

import torch


def intersect_aabb(
    origins: torch.Tensor,  # (num_rays, 3)
    dirs: torch.Tensor,  # (num_rays, 3)
    aabb: torch.Tensor,  # (2, 3) min and max corners
) -> tuple[torch.Tensor, torch.Tensor]:
    """Slab test: t_near = max_a min(t0_a, t1_a), t_far = min_a max(t0_a, t1_a), t_a = (b_a - o_a) / d_a.

    Returns (num_rays,) t_near (clamped at 0) and t_far; a ray misses the box when t_far <= t_near.
    """
    safe = torch.where(dirs.abs() < 1e-9, torch.full_like(dirs, 1e-9), dirs)
    t0 = (aabb[0] - origins) / safe
    t1 = (aabb[1] - origins) / safe
    t_near = torch.minimum(t0, t1).amax(dim=-1).clamp_min(0.0)
    t_far = torch.maximum(t0, t1).amin(dim=-1)
    return t_near, t_far
