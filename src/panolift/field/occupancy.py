"""Occupancy grids for empty-space skipping: a boolean grid over a box, built from a density function.

Voxel (i, j, k) of a grid with ``resolution`` (X, Y, Z) voxels over ``aabb`` covers
[min + (i, j, k) * size / res, min + (i + 1, j + 1, k + 1) * size / res); its centre is
min + (i + 1/2, j + 1/2, k + 1/2) * size / res. Every voxel grid of panolift (occupancy, instance regions,
export) uses this convention through :func:`voxel_centers`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from .tensorf import grid_sample_points


def voxel_centers(aabb: torch.Tensor, resolution: tuple[int, int, int]) -> torch.Tensor:
    """(X, Y, Z, 3) centres of the voxels of a grid over ``aabb`` (2, 3): min + (i + 1/2) size / res,
    on ``aabb``'s device and dtype. ``.reshape(-1, 3)`` lists them x slowest (C order)."""
    axes = [
        aabb[0, a]
        + (torch.arange(n, device=aabb.device, dtype=aabb.dtype) + 0.5) * (aabb[1, a] - aabb[0, a]) / n
        for a, n in enumerate(resolution)
    ]
    return torch.stack(torch.meshgrid(*axes, indexing="ij"), dim=-1)


@dataclass
class OccupancyGrid:
    """A boolean grid over ``aabb`` (2, 3); ``mask[i, j, k]`` covers voxel (i, j, k) along x, y, z."""

    aabb: torch.Tensor  # (2, 3)
    mask: torch.Tensor  # (X, Y, Z) bool
    _clearance: torch.Tensor | None = field(default=None, init=False, repr=False, compare=False)

    def query(self, points: torch.Tensor) -> torch.Tensor:
        """(num_points, 3) -> (num_points,) True where the containing voxel is occupied (False outside)."""
        X, Y, Z = self.mask.shape
        res = torch.tensor((X, Y, Z), device=points.device)
        rel = (points - self.aabb[0]) / (self.aabb[1] - self.aabb[0])
        inside = ((rel >= 0) & (rel <= 1)).all(dim=-1)
        idx = (rel * res).long().clamp(min=torch.zeros_like(res), max=res - 1)
        flat = (idx[:, 0] * Y + idx[:, 1]) * Z + idx[:, 2]  # one gather instead of three index tensors
        return self.mask.reshape(-1)[flat] & inside

    def clearance(self) -> torch.Tensor:
        """(X, Y, Z) for each voxel a distance (in the box's units) within which every point of the voxel
        has only empty space around it: (D - 1) x the shortest voxel edge, where D is the chessboard
        distance in voxels to the nearest occupied voxel (0 at one, capped at :data:`CLEARANCE_MAX_VOXELS`;
        outside the grid counts as empty).

        Why it is safe: the voxels within chessboard distance D - 1 of voxel v are empty, and their union is
        the box of half-width (D - 1/2) voxels around v's centre; a point p of v lies within half a voxel of
        that centre along each axis, so every point closer to p than (D - 1) voxel edges is inside the
        union. Computed once per grid (the grid is replaced, never changed in place, when it is
        recomputed) by D dilations of the mask."""
        if self._clearance is None:
            occupied = self.mask.to(self.aabb.dtype)[None, None]
            distance = torch.zeros_like(occupied)
            for _ in range(CLEARANCE_MAX_VOXELS):
                if bool(occupied.min() > 0):
                    break
                distance += occupied == 0  # not yet reached: at least one voxel further
                occupied = F.max_pool3d(occupied, kernel_size=3, stride=1, padding=1)
            res = torch.tensor(self.mask.shape, device=self.aabb.device, dtype=self.aabb.dtype)
            edge = float(((self.aabb[1] - self.aabb[0]) / res).min())
            self._clearance = ((distance[0, 0] - 1.0).clamp_min(0.0) * edge).to(self.aabb.device)
        return self._clearance

    def along_rays(self, origins: torch.Tensor, dirs: torch.Tensor) -> RayOccupancy:
        """The grid as the march asks it: for samples (ray, t) of these rays (:class:`RayOccupancy`)."""
        return RayOccupancy(self, origins, dirs)


CLEARANCE_MAX_VOXELS = 32
"""The largest distance, in voxels, that :meth:`OccupancyGrid.clearance` measures (further is read as this)."""

MAX_LEAPS = 16
"""Jumps :meth:`RayOccupancy.leap` makes at most (each one reads the clearance once per ray)."""


class RayOccupancy:
    """Occupancy of samples along a fixed set of rays, each sample given as (ray, t): the march asks it for
    every step it reaches, so it is one nearest-voxel ``grid_sample`` a sample, with the rays moved into
    the grid's coordinates once (no point is placed in space for a step that turns out empty). Agrees with
    :meth:`OccupancyGrid.query` except for samples exactly on a voxel face."""

    def __init__(self, grid: OccupancyGrid, origins: torch.Tensor, dirs: torch.Tensor):
        aabb = grid.aabb.to(origins)
        scale = 2.0 / (aabb[1] - aabb[0])  # grid_sample's [-1, 1] spans the box (align_corners=False)
        # grid_sample reads (x, y, z) as (W, H, D): the mask's last axis first
        self.origins = ((origins - aabb[0]) * scale - 1.0).flip(-1).contiguous()
        self.dirs = (dirs * scale).flip(-1).contiguous()
        self.mask = grid.mask.to(origins.dtype)[None, None]
        self.grid = grid

    def __call__(self, rays: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """(num_samples,) ray index and distance -> (num_samples,) bool, in an occupied voxel."""
        coords = torch.addcmul(
            self.origins.index_select(0, rays), t[:, None], self.dirs.index_select(0, rays)
        )
        values = grid_sample_points(
            self.mask, coords, mode="nearest", padding_mode="zeros", align_corners=False
        )  # in a chunk per CPU thread
        return values[0] > 0.5

    def leap(self, t_near: torch.Tensor, t_far: torch.Tensor, step: float) -> torch.Tensor:
        """(num_rays,) ``t_near`` moved forward by whole ``step``s over the empty space in front of it, so
        that the march starts near the first occupied voxel: the samples t_near + (i + u) step skipped are
        all in empty voxels (they would have been marched for nothing), and those left sit where they sat.

        Sphere tracing on the grid's :meth:`~OccupancyGrid.clearance`: at t the next floor(c(t) / step)
        steps lie within the clearance c(t), so t jumps by them; at most :data:`MAX_LEAPS` jumps, none
        past ``t_far``. Outside the grid the clearance reads 0 (no jump), except on its faces, where a ray
        from outside enters the box."""
        clearance = self.grid.clearance().to(t_near)[None, None]
        skipped = torch.zeros_like(t_near)  # whole steps, so that t stays on the ray's lattice
        # the rays still jumping: one that did not move reads the same clearance again and never moves,
        # so each jump reads only the rays that moved in the one before (most stop after a jump or two)
        rays = torch.arange(t_near.shape[0], device=t_near.device)
        origins, dirs, near, far = self.origins, self.dirs, t_near, t_far
        for _ in range(MAX_LEAPS):
            t = near + skipped.index_select(0, rays) * step
            coords = torch.addcmul(origins, t[:, None], dirs)
            # a ray from outside starts on the box's face, maybe a rounding error outside it: read the
            # voxel on the face (farther out, nothing is read: no jump)
            on_face = (coords.abs() <= 1.0 + 1e-5).all(dim=-1, keepdim=True)
            coords = torch.where(on_face, coords.clamp(-1.0, 1.0), coords)
            room = grid_sample_points(
                clearance, coords, mode="nearest", padding_mode="zeros", align_corners=False
            )[0]
            steps = torch.where(t < far, torch.floor(room / step), torch.zeros_like(room))
            moved = (steps > 0).nonzero().squeeze(1)
            if moved.numel() == 0:
                break
            rays = rays.index_select(0, moved)
            skipped.index_add_(0, rays, steps.index_select(0, moved))
            origins, dirs = origins.index_select(0, moved), dirs.index_select(0, moved)
            near, far = near.index_select(0, moved), far.index_select(0, moved)
        return t_near + skipped * step


@torch.no_grad()
def compute_occupancy(
    density_fn: Callable[[torch.Tensor], torch.Tensor],
    aabb: torch.Tensor,
    resolution: tuple[int, int, int],
    step_size: float,
    threshold: float,
    chunk_points: int = 65536,
) -> OccupancyGrid:
    """Occupied voxels: alpha = 1 - exp(-sigma(centre) * step) > threshold, dilated by one voxel.

    The dilation (3x3x3 max-pool) keeps surfaces that pass between voxel centres, as TensoRF does.
    """
    centers = voxel_centers(aabb, resolution).reshape(-1, 3)
    density = torch.cat(
        [density_fn(centers[i : i + chunk_points]) for i in range(0, centers.shape[0], chunk_points)]
    )
    alpha = 1.0 - torch.exp(-density * step_size)
    mask = (alpha > threshold).reshape(resolution).float()
    mask = F.max_pool3d(mask[None, None], kernel_size=3, stride=1, padding=1)[0, 0] > 0
    return OccupancyGrid(aabb.clone(), mask)


def occupied_aabb(grid: OccupancyGrid, margin_voxels: int = 2) -> torch.Tensor:
    """Tight box (2, 3) around the occupied voxels, grown by ``margin_voxels`` and clipped to the grid's box."""
    if not grid.mask.any():
        return grid.aabb.clone()
    res = torch.tensor(grid.mask.shape, device=grid.aabb.device, dtype=grid.aabb.dtype)
    voxel = (grid.aabb[1] - grid.aabb[0]) / res
    idx = grid.mask.nonzero().to(grid.aabb.dtype)
    low = grid.aabb[0] + (idx.amin(dim=0) - margin_voxels) * voxel
    high = grid.aabb[0] + (idx.amax(dim=0) + 1 + margin_voxels) * voxel
    return torch.stack([torch.maximum(low, grid.aabb[0]), torch.minimum(high, grid.aabb[1])])
