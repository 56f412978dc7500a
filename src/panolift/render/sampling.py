"""Sampling along rays with empty-space skipping: uniform steps inside the box, an occupancy (alpha) grid."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass
class OccupancyGrid:
    """A boolean grid over ``aabb`` (2, 3); ``mask[i, j, k]`` covers cell (i, j, k) along x, y, z."""

    aabb: torch.Tensor  # (2, 3)
    mask: torch.Tensor  # (res_x, res_y, res_z) bool

    def query(self, points: torch.Tensor) -> torch.Tensor:
        """(num_points, 3) -> (num_points,) True where the containing cell is occupied (False outside)."""
        res = torch.tensor(self.mask.shape, device=points.device)
        rel = (points - self.aabb[0]) / (self.aabb[1] - self.aabb[0])
        inside = ((rel >= 0) & (rel <= 1)).all(dim=-1)
        idx = (rel * res).long().clamp(min=torch.zeros_like(res), max=res - 1)
        return self.mask[idx[:, 0], idx[:, 1], idx[:, 2]] & inside


def cell_centers(aabb: torch.Tensor, resolution: tuple[int, int, int]) -> torch.Tensor:
    """(res_x, res_y, res_z, 3) centres of the cells of a grid over ``aabb``: min + (i + 1/2) size / res."""
    axes = [
        aabb[0, a]
        + (torch.arange(n, device=aabb.device, dtype=aabb.dtype) + 0.5) * (aabb[1, a] - aabb[0, a]) / n
        for a, n in enumerate(resolution)
    ]
    return torch.stack(torch.meshgrid(*axes, indexing="ij"), dim=-1)


@torch.no_grad()
def compute_occupancy(
    density_fn: Callable[[torch.Tensor], torch.Tensor],
    aabb: torch.Tensor,
    resolution: tuple[int, int, int],
    step_size: float,
    threshold: float,
    chunk: int = 65536,
) -> OccupancyGrid:
    """Occupied cells: alpha = 1 - exp(-sigma(centre) * step) > threshold, dilated by one cell.

    The dilation (3x3x3 max-pool) keeps surfaces that pass between cell centres, as TensoRF does.
    """
    centers = cell_centers(aabb, resolution).reshape(-1, 3)
    sigma = torch.cat([density_fn(centers[i : i + chunk]) for i in range(0, centers.shape[0], chunk)])
    alpha = 1.0 - torch.exp(-sigma * step_size)
    mask = (alpha > threshold).reshape(resolution).float()
    mask = F.max_pool3d(mask[None, None], kernel_size=3, stride=1, padding=1)[0, 0] > 0
    return OccupancyGrid(aabb.clone(), mask)


def occupied_aabb(grid: OccupancyGrid, margin_cells: int = 2) -> torch.Tensor:
    """Tight box (2, 3) around the occupied cells, grown by ``margin_cells`` and clipped to the grid's box."""
    if not grid.mask.any():
        return grid.aabb.clone()
    res = torch.tensor(grid.mask.shape, device=grid.aabb.device, dtype=grid.aabb.dtype)
    cell = (grid.aabb[1] - grid.aabb[0]) / res
    idx = grid.mask.nonzero().to(grid.aabb.dtype)
    low = grid.aabb[0] + (idx.amin(dim=0) - margin_cells) * cell
    high = grid.aabb[0] + (idx.amax(dim=0) + 1 + margin_cells) * cell
    return torch.stack([torch.maximum(low, grid.aabb[0]), torch.minimum(high, grid.aabb[1])])


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
