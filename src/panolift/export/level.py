"""The density level of the rendered surface, from rays of the training views.

A well-trained field jumps from ~0 to a large density at surfaces and any level in between gives the
same iso-surface; a blurry one (few iterations, tiny grids) does not, and a fixed level then finds no
surface or a fog. The level the renderer effectively uses is the density where a ray's transmittance
falls to one half (the median of its termination distance):

    sigma_0 = median_r sigma_r(t*_r),   t*_r = min { t_i : T_r(t_i) <= 1/2 },  T_r(t_i) = exp(-sum_{j<i} sigma_j delta)

over rays r that become at least half opaque inside the field's box.
"""

from __future__ import annotations

import logging

import numpy as np
import torch
from torch import nn

from panolift.edit.regions import evaluate_density
from panolift.edit.wrappers import box_of

logger = logging.getLogger(__name__)


@torch.no_grad()
def estimate_surface_density(
    field: nn.Module,
    origins: torch.Tensor,  # (num_rays, 3) field coordinates
    dirs: torch.Tensor,  # (num_rays, 3) unit
    num_samples: int = 256,
    chunk_rays: int = 1024,
) -> float | None:
    """sigma_0 of the module docstring; None when no ray becomes half opaque."""
    from panolift.render.rays import intersect_aabb

    aabb = box_of(field).to(origins)
    values = []
    for i in range(0, origins.shape[0], chunk_rays):
        o, d = origins[i : i + chunk_rays], dirs[i : i + chunk_rays]
        t_near, t_far = intersect_aabb(o, d, aabb)
        hit = t_far > t_near
        o, d, t_near, t_far = o[hit], d[hit], t_near[hit], t_far[hit]
        if o.shape[0] == 0:
            continue
        u = (torch.arange(num_samples, device=o.device, dtype=o.dtype) + 0.5) / num_samples
        t = t_near[:, None] + (t_far - t_near)[:, None] * u[None, :]  # (num_rays, num_samples)
        delta = ((t_far - t_near) / num_samples)[:, None]
        points = o[:, None, :] + t[..., None] * d[:, None, :]
        sigma = evaluate_density(field, points.reshape(-1, 3)).reshape(t.shape)
        optical = torch.cumsum(sigma * delta, dim=-1) - sigma * delta  # exclusive: T_i = exp(-optical_i)
        crossed = optical >= np.log(2.0)
        first = crossed.float().argmax(dim=-1)
        ok = crossed.any(dim=-1)
        values.append(sigma[ok, first[ok]].float().cpu())
    if not values or sum(v.numel() for v in values) == 0:
        return None
    level = float(torch.cat(values).median())
    logger.info("surface density level %.3g from %d rays", level, sum(v.numel() for v in values))
    return level


def training_rays(loaded, max_rays: int = 8192, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Up to ``max_rays`` random rays (field coordinates) of a run's training views at its image size."""
    from panolift.scene import Scene, generate_rays, scale_intrinsics

    scene = Scene(loaded.scene_path)
    width, height = (int(v) for v in loaded.image_size)
    K = torch.as_tensor(scale_intrinsics(scene.intrinsics, scene.size, (width, height)), dtype=torch.float32)
    frames = scene.train_frames or scene.frame_names
    generator = torch.Generator().manual_seed(seed)
    per_frame = max(1, max_rays // len(frames))
    origins, dirs = [], []
    for name in frames:
        c2w = torch.as_tensor(loaded.normalization.apply_to_poses(scene.pose(name)), dtype=torch.float32)
        count = min(per_frame, width * height)
        flat = torch.randperm(width * height, generator=generator)[:count]
        pixels = torch.stack([flat % width, flat // width], dim=-1)
        o, d = generate_rays(K, c2w, width, height, pixels=pixels)
        origins.append(o)
        dirs.append(d)
    return torch.cat(origins), torch.cat(dirs)
