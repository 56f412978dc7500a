"""3D instances of a panoptic field as voxel regions: the field sampled on a grid over its box.

A point's panoptic id follows the renderer's convention: if the argmax class (void excluded) is a thing
class the id is argmax slot + 1, else 0 (stuff). A "3D instance" is such an id. Its region is the set of
voxels that are occupied (density at the centre above a threshold) and that carry that id, dilated by a
few voxels so that samples on the instance's surface (which straddle voxel boundaries) are covered.

Which id an occupied voxel carries depends on whether the training views saw it (``visible``, see
:func:`compute_visibility`): the inside of an object is occupied space that no training ray reached, so
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

from panolift.field.outputs import FieldOutputs

logger = logging.getLogger(__name__)

FieldFn = Callable[[torch.Tensor, torch.Tensor], FieldOutputs]


def compute_panoptic_ids(
    semantics: torch.Tensor,  # (num_points, num_classes) probabilities (or logits)
    instance: torch.Tensor,  # (num_points, num_slots)
    thing_mask: torch.Tensor,  # (num_classes,) bool, True for thing classes
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per point (class, id):  k* = argmax_{k >= 1} kappa(k);  id = argmax_j pi(j) + 1 if k* is a thing,
    else 0. Void (k = 0) is left out of the argmax as in ``panoptic_from_rendering``: it gets no training
    weight, so its probability only reflects missing supervision.

    Returns class ids (num_points,) and panoptic ids (num_points,), both int64.
    """
    classes = semantics[:, 1:].argmax(dim=-1) + 1
    slots = instance.argmax(dim=-1) + 1
    ids = torch.where(thing_mask.to(semantics.device)[classes], slots, torch.zeros_like(slots))
    return classes, ids


def thing_mask_from_ids(thing_ids: tuple[int, ...] | list[int], num_classes: int) -> torch.Tensor:
    """A (num_classes,) bool tensor that is True at the thing classes."""
    mask = torch.zeros(num_classes, dtype=torch.bool)
    mask[list(thing_ids)] = True
    return mask


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


def grid_points(aabb: torch.Tensor, resolution: tuple[int, int, int]) -> torch.Tensor:
    """Voxel centres (X*Y*Z, 3) of ``resolution`` voxels over ``aabb``, x slowest (C order)."""
    axes = [
        aabb[0, a] + (torch.arange(n, dtype=aabb.dtype) + 0.5) * (aabb[1, a] - aabb[0, a]) / n
        for a, n in enumerate(resolution)
    ]
    return torch.stack(torch.meshgrid(*axes, indexing="ij"), dim=-1).reshape(-1, 3)


@torch.no_grad()
def evaluate_field_in_chunks(
    field: FieldFn, points: torch.Tensor, dirs: torch.Tensor | None = None, chunk: int = 65536
) -> FieldOutputs:
    """field(points, dirs) over (num_points, 3) points in chunks, concatenated (dirs default to +z)."""
    if dirs is None:
        dirs = torch.zeros_like(points)
        dirs[:, 2] = 1.0
    parts = [field(points[i : i + chunk], dirs[i : i + chunk]) for i in range(0, points.shape[0], chunk)]
    if not parts:
        raise ValueError("no points to evaluate")

    def cat(name: str) -> torch.Tensor | None:
        values = [getattr(p, name) for p in parts]
        return None if values[0] is None else torch.cat(values, dim=0)

    return FieldOutputs(
        density=cat("density"), rgb=cat("rgb"), semantics=cat("semantics"), instance=cat("instance")
    )


@torch.no_grad()
def evaluate_density(field: FieldFn, points: torch.Tensor, chunk: int = 65536) -> torch.Tensor:
    """sigma at (num_points, 3) points -> (num_points,): the field's own ``density(points)`` when its class
    defines one (a trained field: no colour or heads evaluated), else ``field(points, dirs).density``."""
    own = getattr(type(field), "density", None)
    if callable(own):
        return torch.cat([field.density(points[i : i + chunk]) for i in range(0, points.shape[0], chunk)])
    return evaluate_field_in_chunks(field, points, chunk=chunk).density


def sample_field_grid(
    field: FieldFn,
    aabb: torch.Tensor,  # (2, 3)
    resolution: int | tuple[int, int, int],
    thing_mask: torch.Tensor,  # (num_classes,) bool
    device: torch.device | str | None = None,
    chunk: int = 65536,
) -> FieldGrid:
    """Evaluate density, class and panoptic id at the voxel centres of a grid over ``aabb``."""
    if isinstance(resolution, int):
        resolution = (resolution,) * 3
    aabb = aabb.detach().to("cpu", torch.float32)
    points = grid_points(aabb, resolution)
    ids_parts, cls_parts, dens_parts = [], [], []
    for i in range(0, points.shape[0], chunk):
        pts = points[i : i + chunk].to(device) if device is not None else points[i : i + chunk]
        out = evaluate_field_in_chunks(field, pts, chunk=chunk)
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


@torch.no_grad()
def compute_visibility(
    field: FieldFn,
    aabb: torch.Tensor,  # (2, 3)
    occupied: torch.Tensor,  # (X, Y, Z) bool
    origins: torch.Tensor,  # (num_rays, 3) field coordinates
    dirs: torch.Tensor,  # (num_rays, 3) unit
    min_weight: float = 0.05,
    samples_per_voxel: float = 2.0,
    chunk_rays: int = 1024,
) -> torch.Tensor:
    """(X, Y, Z) bool: the occupied voxels the rays saw. Along each ray, samples spaced uniformly between
    its entry into and exit from ``aabb`` (about ``samples_per_voxel`` per voxel crossed) give

        w_i = T_i (1 - exp(-sigma_i delta)),  T_i = exp(-sum_{j<i} sigma_j delta).

    A voxel is seen free space when it is not occupied and some sample in it has T_i >= 1/2; an occupied
    voxel is visible when some sample in it has w_i >= ``min_weight`` or when it touches (26-neighbours)
    seen free space. The second rule makes the visible surface dense with few rays (a ray marks only
    one or two voxels of the surface it ends on, but crosses many free ones), while the inside of an
    object, which touches no seen free space and gets no weight, stays unseen. The rays should be the
    training views': what they see is what the field was trained on.
    """
    from panolift.render.rays import intersect_aabb

    resolution = tuple(occupied.shape)
    device = origins.device
    box = aabb.to(device, origins.dtype)
    res = torch.tensor(resolution, device=device)
    voxel = (box[1] - box[0]) / res
    num_samples = max(8, int(samples_per_voxel * float((box[1] - box[0]).norm() / voxel.min())))
    best_weight = torch.zeros(int(res.prod()), device=device)  # per voxel, flattened (C order)
    best_trans = torch.zeros(int(res.prod()), device=device)
    for i in range(0, origins.shape[0], chunk_rays):
        o, d = origins[i : i + chunk_rays], dirs[i : i + chunk_rays]
        t_near, t_far = intersect_aabb(o, d, box)
        hit = t_far > t_near
        o, d, t_near, t_far = o[hit], d[hit], t_near[hit], t_far[hit]
        if o.shape[0] == 0:
            continue
        u = (torch.arange(num_samples, device=device, dtype=o.dtype) + 0.5) / num_samples
        t = t_near[:, None] + (t_far - t_near)[:, None] * u[None, :]  # (num_rays, num_samples)
        delta = ((t_far - t_near) / num_samples)[:, None]
        points = (o[:, None, :] + t[..., None] * d[:, None, :]).reshape(-1, 3)
        optical = evaluate_density(field, points).reshape(t.shape).to(o.dtype) * delta
        trans = torch.exp(-(torch.cumsum(optical, dim=-1) - optical))  # (num_rays, num_samples)
        weights = trans * (1.0 - torch.exp(-optical))
        idx = torch.minimum(torch.floor((points - box[0]) / voxel).long().clamp_min(0), res - 1)
        flat = (idx[:, 0] * res[1] + idx[:, 1]) * res[2] + idx[:, 2]
        best_weight.scatter_reduce_(0, flat, weights.reshape(-1), reduce="amax")
        best_trans.scatter_reduce_(0, flat, trans.reshape(-1), reduce="amax")
    best_weight, best_trans = best_weight.reshape(resolution).cpu(), best_trans.reshape(resolution).cpu()
    seen_free = (best_trans >= 0.5) & ~occupied
    visible = occupied & ((best_weight >= min_weight) | dilate_mask(seen_free, 1))
    logger.debug(
        "%d of %d occupied voxels seen by %d rays", int(visible.sum()), int(occupied.sum()), origins.shape[0]
    )
    return visible


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
    from scipy.ndimage import distance_transform_edt

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
    from scipy.ndimage import label

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
    logger.debug("found %d instances (%d occupied voxels)", len(regions), int(occupied.sum()))
    return regions
