"""3D instances of a panoptic field as voxel regions: the field sampled on a grid over its box.

A point's panoptic id follows the renderer's convention: if the argmax class (void excluded) is a thing
class the id is argmax slot + 1, else 0 (stuff). A "3D instance" is such an id. Its region is the set of
voxels that are occupied (density at the centre above a threshold) and that carry that id, dilated by a
few voxels so that samples on the instance's surface (which straddle voxel boundaries) are covered.

Which id an occupied voxel carries depends on whether the training views saw it (``visible``, see
:func:`panolift.render.compute_visibility`): the inside of an object is occupied space that no training ray reached, so
the field's class and instance there are arbitrary (trained by nothing). A visible occupied voxel keeps
the field's id; an unseen occupied voxel takes the id of the nearest visible occupied voxel
(:func:`label_unobserved_voxels`), so an object's interior belongs to the object and is deleted with it.
Then each instance keeps only its main 26-connected components (those with at least half the visible
voxels of the largest, :func:`keep_main_components`): floaters, far unobserved space and parts of other
objects that happen to carry the id leave the region and its bounding box.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from scipy.ndimage import distance_transform_edt, label

from panolift.field import FieldOutputs, voxel_centers
from panolift.render import compute_panoptic_ids, evaluate_field_in_chunks

log = logging.getLogger(__name__)

FieldFn = Callable[[torch.Tensor, torch.Tensor], FieldOutputs]


@dataclass
class FieldGrid:
    """A field sampled at voxel centres: the box ``aabb`` (2, 3) split into ``resolution`` voxels per axis.

    Voxel (i, j, k) covers [min + (i,j,k) * size, min + (i+1,j+1,k+1) * size); its centre is sampled.
    """

    aabb: torch.Tensor  # (2, 3) field (normalised) coordinates
    density: torch.Tensor  # (X, Y, Z) sigma at voxel centres
    classes: torch.Tensor  # (X, Y, Z) int64 argmax class
    ids: torch.Tensor  # (X, Y, Z) int64 panoptic id (0 = stuff)
    visible: torch.Tensor | None = None  # (X, Y, Z) bool occupied and seen by the training views

    @property
    def resolution(self) -> tuple[int, int, int]:
        return tuple(self.density.shape)  # type: ignore[return-value]

    @property
    def voxel_size(self) -> torch.Tensor:  # (3,)
        return (self.aabb[1] - self.aabb[0]) / torch.tensor(self.resolution, dtype=self.aabb.dtype)

    def occupied(self, density_threshold: float) -> torch.Tensor:
        """(X, Y, Z) bool: sigma >= density_threshold."""
        return self.density >= density_threshold


def sample_field_grid(
    field: FieldFn,
    aabb: torch.Tensor,  # (2, 3)
    resolution: int | tuple[int, int, int],
    thing_mask: torch.Tensor,  # (num_classes,) bool
    device: torch.device | str | None = None,
    chunk_points: int = 65536,
) -> FieldGrid:
    """Evaluate density, class and panoptic id at the voxel centres of a grid over ``aabb``."""
    if isinstance(resolution, int):
        resolution = (resolution,) * 3
    aabb = aabb.detach().to("cpu", torch.float32)
    points = voxel_centers(aabb, resolution).reshape(-1, 3)
    ids_parts, cls_parts, dens_parts = [], [], []
    for i in range(0, points.shape[0], chunk_points):
        pts = points[i : i + chunk_points].to(device) if device is not None else points[i : i + chunk_points]
        out = evaluate_field_in_chunks(field, pts, chunk_points=chunk_points)
        classes, ids = compute_panoptic_ids(out.semantics, out.instance, thing_mask)
        dens_parts.append(out.density.float().cpu())
        cls_parts.append(classes.cpu())
        ids_parts.append(ids.cpu())
    shape = tuple(resolution)
    return FieldGrid(
        aabb=aabb,
        density=torch.cat(dens_parts).reshape(shape),
        classes=torch.cat(cls_parts).reshape(shape),
        ids=torch.cat(ids_parts).reshape(shape),
    )


def dilate_mask(mask: torch.Tensor, voxels: int) -> torch.Tensor:
    """Binary dilation of an (X, Y, Z) mask by a (2v+1)^3 cube (max pooling)."""
    if voxels <= 0:
        return mask.clone()
    k = 2 * voxels + 1
    return F.max_pool3d(mask[None, None].float(), kernel_size=k, stride=1, padding=voxels)[0, 0] > 0


@dataclass
class InstanceRegion:
    """The voxels of one 3D instance: ``core`` (occupied, id == instance_id) and ``mask`` (core, dilated)."""

    instance_id: int
    class_id: int  # majority class over the core voxels
    aabb: torch.Tensor  # (2, 3) the grid's box
    core: torch.Tensor  # (X, Y, Z) bool
    mask: torch.Tensor  # (X, Y, Z) bool
    dilation: int = 1  # voxels from core to mask
    _on_device: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def voxel_count(self) -> int:
        return int(self.core.sum())

    @property
    def voxel_size(self) -> torch.Tensor:  # (3,)
        return (self.aabb[1] - self.aabb[0]) / torch.tensor(self.core.shape, dtype=self.aabb.dtype)

    def bounds(self, dilated: bool = False) -> torch.Tensor:
        """(2, 3) min / max corner of the core voxels (or of the dilated mask), field coordinates."""
        idx = (self.mask if dilated else self.core).nonzero()
        lo = self.aabb[0] + idx.min(dim=0).values.to(self.aabb.dtype) * self.voxel_size
        hi = self.aabb[0] + (idx.max(dim=0).values + 1).to(self.aabb.dtype) * self.voxel_size
        return torch.stack([lo, hi])

    def robust_bounds(self, quantile: float = 0.01) -> torch.Tensor:
        """(2, 3) box of the core voxels between the ``quantile`` and 1 - ``quantile`` of their coordinates
        per axis: the instance's extent without stray voxels (a blurry field labels some fog with it)."""
        idx = self.core.nonzero().to(self.aabb.dtype)
        q = torch.tensor([quantile, 1.0 - quantile], dtype=self.aabb.dtype)
        lo_hi = (
            torch.quantile(idx, q, dim=0)
            if idx.shape[0] < 2**24
            else torch.stack([idx.min(0)[0], idx.max(0)[0]])
        )
        return torch.stack(
            [self.aabb[0] + lo_hi[0] * self.voxel_size, self.aabb[0] + (lo_hi[1] + 1) * self.voxel_size]
        )

    def center(self) -> torch.Tensor:
        """(3,) centre of the robust box of the core voxels: the pivot of yaw rotations."""
        b = self.robust_bounds()
        return 0.5 * (b[0] + b[1])

    def _voxels(self, points: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(num_points, 3) voxel indices of points (0 outside the grid) and (num_points,) inside the grid."""
        aabb = self.aabb.to(points.device, points.dtype)
        res = torch.tensor(self.core.shape, device=points.device)
        idx = torch.floor((points - aabb[0]) / (aabb[1] - aabb[0]) * res).long()
        inside = ((idx >= 0) & (idx < res)).all(dim=-1)
        return torch.where(inside[:, None], idx, torch.zeros_like(idx)), inside

    def _grid_on(self, name: str, device: torch.device) -> torch.Tensor:
        """``self.<name>`` on ``device``, copied once (not on every call)."""
        key = (name, device)
        if key not in self._on_device:
            self._on_device[key] = getattr(self, name).to(device)
        return self._on_device[key]

    def contains(self, points: torch.Tensor, core: bool = False) -> torch.Tensor:
        """(num_points,) bool: the voxel that holds each point (num_points, 3) is in the mask (or core)."""
        grid = self._grid_on("core" if core else "mask", points.device)
        idx, inside = self._voxels(points)
        return inside & grid[idx[:, 0], idx[:, 1], idx[:, 2]]


def label_unobserved_voxels(
    ids: torch.Tensor,  # (X, Y, Z) int64
    classes: torch.Tensor,  # (X, Y, Z) int64
    occupied: torch.Tensor,  # (X, Y, Z) bool
    visible: torch.Tensor,  # (X, Y, Z) bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """Ids and classes where every occupied voxel that no training view saw takes those of the nearest
    (Euclidean, voxel units) visible occupied voxel:

        id(v) = id(argmin_{u in S} |u - v|)  for v in occupied minus S,   S = occupied & visible.

    Unchanged when S is empty (nothing to take labels from)."""
    seen = occupied & visible
    if not bool(seen.any()):
        return ids, classes
    _, nearest = distance_transform_edt(~seen.numpy(), return_indices=True)  # (3, X, Y, Z)
    fill = (occupied & ~seen).numpy()
    src = tuple(torch.from_numpy(n[fill]) for n in nearest)
    ids, classes = ids.clone(), classes.clone()
    fill_t = torch.from_numpy(fill)
    ids[fill_t] = ids[src]
    classes[fill_t] = classes[src]
    return ids, classes


def keep_main_components(
    mask: torch.Tensor, min_fraction: float, weight: torch.Tensor | None = None
) -> torch.Tensor:
    """The main 26-connected components of an (X, Y, Z) mask: those holding at least ``min_fraction``
    times the ``weight`` voxels (default: all voxels) of the heaviest one. With ``weight`` = the visible
    voxels, a piece is judged by how much of it the training views saw. An object is one connected piece;
    smaller pieces elsewhere that carry its id are label noise (fog, unseen space, or part of another
    object that the instance head gave the same slot) and would make the region, and its box, metres
    wide."""
    labels, count = label(mask.numpy(), structure=np.ones((3, 3, 3), dtype=bool))
    if count <= 1:
        return mask.clone()
    counted = labels if weight is None else labels[weight.numpy() & (labels > 0)]
    sizes = np.bincount(counted.ravel(), minlength=count + 1)
    sizes[0] = 0
    keep = sizes >= min_fraction * sizes.max()
    keep[0] = False
    return torch.from_numpy(keep[labels])


def find_instance_regions(
    grid: FieldGrid,
    density_threshold: float,
    dilation: int = 1,
    min_voxels: int = 1,
    min_component_fraction: float = 0.0,
) -> dict[int, InstanceRegion]:
    """All 3D instances in a sampled grid: id -> region (occupied voxels with that id, then dilated).

    With ``grid.visible`` set, unseen occupied voxels take the id of the nearest visible one
    (:func:`label_unobserved_voxels`) and, with ``min_component_fraction`` > 0, each instance keeps only
    its main connected components by visible voxels (:func:`keep_main_components`). Without it (nothing
    known of what the views saw), every occupied voxel keeps the field's id and nothing is dropped: a
    blurry field's instance can be mostly scattered fog. See the module docstring."""
    occupied = grid.occupied(density_threshold)
    ids, classes = grid.ids, grid.classes
    if grid.visible is not None:
        ids, classes = label_unobserved_voxels(ids, classes, occupied, grid.visible)
    ids = torch.where(occupied, ids, torch.zeros_like(ids))
    regions: dict[int, InstanceRegion] = {}
    for instance_id in ids.unique().tolist():
        if instance_id == 0:
            continue
        core = ids == instance_id
        if min_component_fraction > 0 and grid.visible is not None:
            core = keep_main_components(core, min_component_fraction, weight=grid.visible)
        if int(core.sum()) < min_voxels:
            continue
        class_id = int(classes[core].mode().values)
        regions[instance_id] = InstanceRegion(
            instance_id=instance_id,
            class_id=class_id,
            aabb=grid.aabb,
            core=core,
            mask=dilate_mask(core, dilation),
            dilation=dilation,
        )
    log.debug("found %d instances (%d occupied voxels)", len(regions), int(occupied.sum()))
    return regions
