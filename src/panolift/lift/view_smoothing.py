"""Density smoothing that follows how many training views see each part of the room.

A part of a room that two or three training views see is fitted by those views' colours alone: the field
can explain them with a semi-transparent mush or a floater as well as with a surface, and one weight of
the total-variation prior cannot tell such a part from one that thirty views pin down (SUITE.md,
twenty-seventh round: `--loss.tv-density 0.05` instead of 0.01 lifted the sparse outward loops 53 and 57 by
1-6 mIoU and cost held-out 14, with 139 frames, 7 mIoU on its thin and small things). So the prior here
is strong where few views see and absent where many do:

1. Each voxel of the occupancy grid counts the training cameras whose image holds its centre (in front
   of the camera, beyond the near plane, inside the image): :func:`frustum_counts`. Only the poses and
   intrinsics are used, not the depth, so a voxel behind a wall counts the views that look at the wall;
   such voxels are empty, and only occupied voxels take part below.
2. A voxel's weight is 1 where at most ``few`` views see it, 0 where at least ``many`` do, linear between
   (:func:`sparse_view_weight`), and 0 where the occupancy grid marks it empty.
3. Each density plane P_m(x_a, x_b) gets a weight map: the mean weight of the occupied voxels along the
   plane's third axis (:func:`plane_weight_maps`), resized to the plane's nodes.
4. The loss is the planes' total variation with each difference weighted by the larger weight of its two
   nodes (:func:`weighted_plane_tv`): with every weight 1 it is the planes' part of
   :func:`panolift.field.compute_tv_loss`, so ``loss.tv_density_sparse`` adds to ``loss.tv_density``
   exactly where few views see. The lines are left to ``tv_density`` (a line spans the whole room).

:class:`SparseViewSmoothing` keeps the counts (they change only with the box) and the maps (until the
trainer's next grid event: an occupancy update, a shrink or an upsampling). Measured at 0.04 on eight
rooms (SUITE.md, twenty-ninth round): within the spread between trainings, so no preset uses it.

The same count of cameras, for the surface points matched between views (:mod:`panolift.lift.stereo`), is
the training's report of how sparse its capture is (:func:`sparsely_seen_share`; a warning above
:data:`SPARSE_CAPTURE_SHARE`).
"""

from __future__ import annotations

import logging

import torch
import torch.nn.functional as F

from panolift.field.occupancy import OccupancyGrid, voxel_centers
from panolift.field.tensorf import MAT_MODES

FEW_VIEWS = 3
"""At most this many training views: the full extra smoothing."""
MANY_VIEWS = 9
"""At least this many: none."""
SPARSE_CAPTURE_SHARE = 0.08
"""A training warns when more than this share of its stereo-matched surface points is imaged by at most
:data:`FEW_VIEWS` training cameras (:func:`sparsely_seen_share`). Read from 50 of the suite's rooms
(SUITE.md, twenty-ninth round): 19.2% and 10.1% in the two sparse outward loops (53, 57) whose test views
show most that no two training views see, at most 6.9% in the other 48."""

log = logging.getLogger(__name__)


@torch.no_grad()
def frustum_counts(
    points: torch.Tensor,  # (N, 3)
    c2w: torch.Tensor,  # (F, 4, 4) OpenCV camera-to-world, the points' coordinates
    K: torch.Tensor,  # (3, 3)
    width: int,
    height: int,
    near: float,
    chunk_points: int = 65536,
) -> torch.Tensor:
    """(N,) int: for each point, the cameras that image it (z beyond ``near``, pixel inside the image)."""
    rotation, centres = c2w[:, :3, :3].to(points), c2w[:, :3, 3].to(points)
    K = K.to(points)
    counts = torch.zeros(points.shape[0], dtype=torch.long, device=points.device)
    for start in range(0, points.shape[0], chunk_points):
        p = points[start : start + chunk_points]
        for r, c in zip(rotation, centres, strict=True):
            q = (p - c) @ r  # camera coordinates: x right, y down, z forward
            z = q[:, 2]
            ahead = z > near
            z = z.clamp_min(near)
            u = K[0, 0] * q[:, 0] / z + K[0, 2]
            v = K[1, 1] * q[:, 1] / z + K[1, 2]
            counts[start : start + chunk_points] += (
                ahead & (u >= 0) & (u < width) & (v >= 0) & (v < height)
            ).long()
    return counts


def sparsely_seen_share(
    points: torch.Tensor, c2w: torch.Tensor, K: torch.Tensor, width: int, height: int, near: float,
    few: int = FEW_VIEWS,
) -> float:  # fmt: skip
    """The share of ``points`` (surface points, e.g. matched between views) that at most ``few`` of the
    cameras image (:func:`frustum_counts`); 0 for no points."""
    if points.shape[0] == 0:
        return 0.0
    return float((frustum_counts(points, c2w, K, width, height, near) <= few).float().mean())


def sparse_view_weight(counts: torch.Tensor, few: int = FEW_VIEWS, many: int = MANY_VIEWS) -> torch.Tensor:
    """1 at ``counts`` <= ``few``, 0 at >= ``many``, linear between (float)."""
    if many <= few:
        raise ValueError(f"sparse_view_weight: many ({many}) must exceed few ({few})")
    return ((many - counts.float()) / (many - few)).clamp(0.0, 1.0)


def plane_weight_maps(
    weights: torch.Tensor,  # (X, Y, Z) per voxel
    occupied: torch.Tensor,  # (X, Y, Z) bool
    plane_shapes: list[tuple[int, int]],  # (rows, columns) of each plane of MAT_MODES
) -> list[torch.Tensor]:
    """For each plane over axes (a, b) of :data:`~panolift.field.tensorf.MAT_MODES`, the mean weight of the
    occupied voxels along the third axis (0 where none is occupied), as a (res_b, res_a) map resized to the
    plane's shape (rows along b, columns along a, as the planes are stored)."""
    occ = occupied.to(weights.dtype)
    maps = []
    for (a, b), shape in zip(MAT_MODES, plane_shapes, strict=True):
        v = 3 - a - b
        total = (weights * occ).sum(dim=v)
        count = occ.sum(dim=v)
        mean = torch.where(count > 0, total / count.clamp_min(1.0), torch.zeros_like(total))  # axes (a, b)
        mean = mean.T[None, None]  # (1, 1, res_b, res_a)
        maps.append(F.interpolate(mean, size=shape, mode="bilinear", align_corners=False)[0, 0])
    return maps


def weighted_plane_tv(planes: list[torch.Tensor], maps: list[torch.Tensor]) -> torch.Tensor:
    """sum_m mean(w (P[i+1,j]-P[i,j])^2) + mean(w (P[i,j+1]-P[i,j])^2), each difference weighted by the
    larger map value of its two nodes (planes (1, C, H, W), maps (H, W))."""
    total = planes[0].new_zeros(())
    for plane, w in zip(planes, maps, strict=True):
        rows = torch.maximum(w[1:, :], w[:-1, :])
        cols = torch.maximum(w[:, 1:], w[:, :-1])
        total = total + (rows * (plane[..., 1:, :] - plane[..., :-1, :]).pow(2)).mean()
        total = total + (cols * (plane[..., :, 1:] - plane[..., :, :-1]).pow(2)).mean()
    return total


class SparseViewSmoothing:
    """The loss of the module docstring for one training: the training cameras (normalised ``c2w``, ``K``
    at the working size) and the field's occupancy grid, read afresh at each call."""

    def __init__(self, c2w: torch.Tensor, K: torch.Tensor, width: int, height: int, near: float):
        self.c2w, self.K, self.width, self.height, self.near = c2w, K, width, height, near
        self._counts: tuple[tuple, torch.Tensor] | None = None
        self._maps: tuple[list, list[torch.Tensor]] | None = None

    def voxel_weights(self, occupancy: OccupancyGrid) -> torch.Tensor:
        """(X, Y, Z) weight of each voxel of ``occupancy``'s grid (occupied or not)."""
        key = (tuple(occupancy.mask.shape), tuple(occupancy.aabb.flatten().tolist()))
        if self._counts is None or self._counts[0] != key:
            centres = voxel_centers(occupancy.aabb, tuple(occupancy.mask.shape)).reshape(-1, 3)
            counts = frustum_counts(centres, self.c2w, self.K, self.width, self.height, self.near)
            self._counts = (key, counts.reshape(occupancy.mask.shape))
        return sparse_view_weight(self._counts[1])

    def reset(self) -> None:
        """Forget the maps: the occupancy grid or the planes have changed (the trainer's grid events)."""
        self._maps = None

    def maps(self, occupancy: OccupancyGrid, planes: list[torch.Tensor]) -> list[torch.Tensor]:
        """The planes' weight maps, kept until :meth:`reset` or until the planes change shape."""
        shapes = [tuple(p.shape[-2:]) for p in planes]
        if self._maps is None or self._maps[0] != shapes:
            weights = self.voxel_weights(occupancy)
            occupied = weights[occupancy.mask]
            log.info(
                "sparse-view smoothing: %.0f%% of the occupied voxels seen by at most %d training views, "
                "%.0f%% by fewer than %d", 100 * float((occupied == 1).float().mean()) if occupied.numel() else 0.0,
                FEW_VIEWS, 100 * float((occupied > 0).float().mean()) if occupied.numel() else 0.0, MANY_VIEWS,
            )  # fmt: skip
            maps = plane_weight_maps(weights, occupancy.mask, shapes)
            self._maps = (shapes, [m.to(planes[0]) for m in maps])
        return self._maps[1]

    def loss(self, planes: list[torch.Tensor], occupancy: OccupancyGrid | None) -> torch.Tensor:
        """The weighted TV of the density ``planes``; 0 before the first occupancy grid (nothing is known
        to be occupied yet)."""
        if occupancy is None:
            return planes[0].new_zeros(())
        return weighted_plane_tv(planes, self.maps(occupancy, planes))
