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

Pieces (``split_pieces``): a slot is not an object. With more objects than slots, or objects the
per-image assignment happened to give the same slot, one slot holds several objects metres apart. Split
into pieces (connected components of its voxels, bridged across gaps of up to two voxels), each piece
big enough (:func:`split_pieces`) is a 3D instance of its own: the biggest keeps the slot's id (slot + 1,
so a scene whose slots each hold one object keeps the ids it always had), the others get ids from
``EXTRA_ID_BASE`` up. :class:`InstanceTable` maps a point and its slot to the id of the piece it lies
in, so that every view, the exports and the edits name the same object by the same id.
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
from panolift.render import compute_panoptic_ids, evaluate_field_in_chunks, slot_class_prior_of

log = logging.getLogger(__name__)

FieldFn = Callable[[torch.Tensor, torch.Tensor], FieldOutputs]

EXTRA_ID_BASE = 32768
"""First id of the extra pieces of a slot (slot ids are slot + 1 < 4097; instance PNGs hold 16 bits)."""


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
    slot_class_prior = slot_class_prior_of(field)
    for i in range(0, points.shape[0], chunk_points):
        pts = points[i : i + chunk_points].to(device) if device is not None else points[i : i + chunk_points]
        out = evaluate_field_in_chunks(field, pts, chunk_points=chunk_points)
        classes, ids = compute_panoptic_ids(out.semantics, out.instance, thing_mask, slot_class_prior)
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
    slot_id: int = 0  # the field's id of its points (slot + 1); 0: the same as instance_id
    shares_slot: bool = False  # other instances are pieces of the same slot
    _on_device: dict = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.slot_id == 0:
            self.slot_id = self.instance_id

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


def transform_region(region: InstanceRegion, transform, new_id: int | None = None) -> InstanceRegion:
    """``region`` carried by a rigid ``transform`` (``apply_inverse(points)``) onto the same grid: a voxel
    is in the new core when its centre's pre-image lies in the old core (voxels leaving the grid are
    lost: the core is empty when all do). ``new_id`` makes it a new instance with its own slot (a
    copy's: slot id = ``new_id``)."""
    centres = voxel_centers(region.aabb, tuple(region.core.shape)).reshape(-1, 3)
    core = region.contains(transform.apply_inverse(centres), core=True).reshape(region.core.shape).cpu()
    if not bool(core.any()):  # smaller than a voxel after resampling: the voxel of its moved centre
        res = torch.tensor(region.core.shape)
        size = (region.aabb[1] - region.aabb[0]) / res
        idx = torch.floor((transform.apply(region.center()[None])[0] - region.aabb[0]) / size).long()
        if bool(((idx >= 0) & (idx < res)).all()):
            core[idx[0], idx[1], idx[2]] = True
    return InstanceRegion(
        instance_id=new_id if new_id is not None else region.instance_id,
        class_id=region.class_id,
        aabb=region.aabb,
        core=core,
        mask=dilate_mask(core, region.dilation),
        dilation=region.dilation,
        slot_id=new_id if new_id is not None else region.slot_id,
    )


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


def split_pieces(
    core: torch.Tensor, weight: torch.Tensor, min_fraction: float, min_voxels: int, bridge: int = 1
) -> list[torch.Tensor]:
    """The pieces of one slot's voxels ``core`` (X, Y, Z), heaviest first: 26-connected components of the
    core grown by ``bridge`` voxels (so gaps of up to 2 x bridge voxels do not cut an object in two),
    each restricted to the core, judged by its ``weight`` voxels (the visible ones; all its voxels when
    no piece has any). The heaviest is always kept (it is the slot's instance, however small); another
    piece when it holds at least ``min_voxels`` and ``min_fraction`` times the weight of the heaviest;
    lighter ones are floaters and dropped. Empty only for an empty core."""
    grown = dilate_mask(core, bridge) if bridge > 0 else core
    labels, count = label(grown.numpy(), structure=np.ones((3, 3, 3), dtype=bool))
    labels = np.where(core.numpy(), labels, 0)
    if count == 0:
        return []
    sizes = np.bincount(labels[weight.numpy() & (labels > 0)], minlength=count + 1)
    sizes[0] = 0
    if sizes.max() == 0:  # no piece was seen (e.g. a copy inside fog): judge them by all their voxels
        sizes = np.bincount(labels[labels > 0], minlength=count + 1)
        sizes[0] = 0
    order = [int(k) for k in np.argsort(-sizes, kind="stable") if k > 0]
    threshold = max(min_voxels, min_fraction * sizes.max())
    kept = order[:1] + [k for k in order[1:] if sizes[k] >= threshold and sizes[k] > 0]
    return [torch.from_numpy(labels == k) for k in kept]


def find_instance_regions(
    grid: FieldGrid,
    density_threshold: float,
    dilation: int = 1,
    min_voxels: int = 1,
    min_component_fraction: float = 0.0,
    split: bool = False,
    min_piece_voxels: int = 4,
    piece_bridge: int = 1,
) -> dict[int, InstanceRegion]:
    """All 3D instances in a sampled grid: id -> region (occupied voxels with that id, then dilated).

    With ``grid.visible`` set, unseen occupied voxels take the id of the nearest visible one
    (:func:`label_unobserved_voxels`) and, with ``min_component_fraction`` > 0, each instance keeps only
    its main connected components by visible voxels (:func:`keep_main_components`). Without it (nothing
    known of what the views saw), every occupied voxel keeps the field's id and nothing is dropped: a
    blurry field's instance can be mostly scattered fog. With ``split``, each slot's voxels are cut into
    pieces (:func:`split_pieces`, at least ``min_piece_voxels`` and ``min_component_fraction`` of the
    biggest piece), each its own instance: the biggest keeps the slot's id, the others get ids from
    ``EXTRA_ID_BASE`` up, in order of slot and then of weight. See the module docstring."""
    occupied = grid.occupied(density_threshold)
    ids, classes = grid.ids, grid.classes
    if grid.visible is not None:
        ids, classes = label_unobserved_voxels(ids, classes, occupied, grid.visible)
    ids = torch.where(occupied, ids, torch.zeros_like(ids))
    weight = grid.visible if grid.visible is not None else occupied
    regions: dict[int, InstanceRegion] = {}
    next_extra = EXTRA_ID_BASE
    for slot_id in ids.unique().tolist():
        if slot_id == 0:
            continue
        core = ids == slot_id
        if split:
            pieces = split_pieces(core, weight, min_component_fraction, min_piece_voxels, piece_bridge)
        elif min_component_fraction > 0 and grid.visible is not None:
            pieces = [keep_main_components(core, min_component_fraction, weight=grid.visible)]
        else:
            pieces = [core]
        pieces = [p for p in pieces if int(p.sum()) >= min_voxels]
        for n, piece in enumerate(pieces):
            instance_id = slot_id if n == 0 else next_extra
            next_extra += n > 0
            regions[instance_id] = InstanceRegion(
                instance_id=instance_id,
                class_id=int(classes[piece].mode().values),
                aabb=grid.aabb,
                core=piece,
                mask=dilate_mask(piece, dilation),
                dilation=dilation,
                slot_id=slot_id,
                shares_slot=len(pieces) > 1,
            )
    log.debug("found %d instances (%d occupied voxels)", len(regions), int(occupied.sum()))
    return regions


# Neighbour offsets within two voxels, nearest first: where a point's own voxel holds another slot (a
# boundary pixel's depth falls between objects), the nearest voxel of its slot decides.
_OFFSETS = torch.tensor(
    sorted(
        ((i, j, k) for i in range(-2, 3) for j in range(-2, 3) for k in range(-2, 3)),
        key=lambda o: (o[0] ** 2 + o[1] ** 2 + o[2] ** 2, o),
    )
)


@dataclass
class InstanceTable:
    """Which 3D instance a point of a given slot belongs to: the pieces of :func:`find_instance_regions`
    as one voxel grid of ids. ``ids_at`` is the one lookup of renders, the viewer and exports."""

    aabb: torch.Tensor  # (2, 3) the region grid's box (field coordinates)
    labels: torch.Tensor  # (X, Y, Z) int64 instance id of each piece's core voxels, 0 elsewhere
    slot_of: dict[int, int]  # instance id -> slot id (slot + 1)
    centers: dict[int, torch.Tensor]  # instance id -> (3,) mean of its core voxels' centres

    @staticmethod
    def from_regions(regions: dict[int, InstanceRegion], aabb: torch.Tensor, resolution) -> InstanceTable:
        labels = torch.zeros(tuple(resolution), dtype=torch.int64)
        for instance_id, region in sorted(regions.items()):
            labels[region.core & (labels == 0)] = instance_id
        aabb = aabb.detach().to("cpu", torch.float32)
        size = (aabb[1] - aabb[0]) / torch.tensor(tuple(resolution), dtype=torch.float32)
        centers = {
            i: aabb[0] + (r.core.nonzero().float().mean(dim=0) + 0.5) * size for i, r in regions.items()
        }
        return InstanceTable(
            aabb=aabb,
            labels=labels,
            slot_of={i: r.slot_id for i, r in regions.items()},
            centers=centers,
        )

    @property
    def has_pieces(self) -> bool:
        """True when some slot is split into several instances (otherwise ids are the slot ids)."""
        return any(i != s for i, s in self.slot_of.items())

    def ids_at(self, points: torch.Tensor, slot_ids: torch.Tensor) -> torch.Tensor:
        """(num_points,) instance ids of points (num_points, 3) whose field id is ``slot_ids``
        (num_points,) int (0: stuff, stays 0). A point takes the piece of its slot in its voxel or the
        nearest one within two voxels; where there is none (a ray ending in fog or between objects), the
        piece of its slot with the nearest centre; a slot without pieces keeps its own id."""
        out = slot_ids.to(torch.int64).clone()
        if not self.has_pieces or points.numel() == 0:
            return out
        device = points.device
        res = torch.tensor(self.labels.shape, device=device)
        aabb = self.aabb.to(device)
        idx = torch.floor((points.float() - aabb[0]) / (aabb[1] - aabb[0]) * res).long()  # (N, 3)
        max_id = max(self.slot_of)
        slot_lut = torch.zeros(max_id + 1, dtype=torch.int64, device=device)
        for i, s in self.slot_of.items():
            slot_lut[i] = s
        labels = self.labels.to(device)
        things = (out > 0).nonzero()[:, 0]
        for start in range(0, things.numel(), 65536):
            sel = things[start : start + 65536]
            cand = idx[sel, None, :] + _OFFSETS.to(device)[None]  # (n, 125, 3)
            inside = ((cand >= 0) & (cand < res)).all(dim=-1)
            cand = torch.minimum(cand.clamp_min(0), res - 1)
            found = labels[cand[..., 0], cand[..., 1], cand[..., 2]] * inside  # (n, 125)
            match = slot_lut[found] == out[sel, None]
            match &= found > 0
            first = match.float().argmax(dim=-1)
            hit = match.any(dim=-1)
            out[sel] = torch.where(hit, found.gather(1, first[:, None])[:, 0], out[sel])
            missed = sel[~hit]
            if missed.numel():
                out[missed] = self._nearest_piece(points[missed], out[missed])
        return out

    def _nearest_piece(self, points: torch.Tensor, slot_ids: torch.Tensor) -> torch.Tensor:
        """(n,) id of the piece of each point's slot whose centre is nearest (the slot id if it has none)."""
        ids = torch.tensor(sorted(self.centers), dtype=torch.int64, device=points.device)
        if ids.numel() == 0:
            return slot_ids
        slots = torch.tensor([self.slot_of[int(i)] for i in ids], device=points.device)
        centers = torch.stack([self.centers[int(i)] for i in ids]).to(points.device)
        dist = torch.cdist(points.float(), centers)  # (n, pieces)
        dist = torch.where(slots[None] == slot_ids[:, None], dist, torch.full_like(dist, float("inf")))
        best = dist.argmin(dim=1)
        has = torch.isfinite(dist.gather(1, best[:, None])[:, 0])
        return torch.where(has, ids[best], slot_ids)
