"""Edits as field wrappers: ``wrapper(points, dirs) -> FieldOutputs`` like the field it wraps.

The renderer never knows about edits. Each wrapper holds the field it modifies (``self.field``) and
forwards unknown attributes (``aabb``, ``num_slots``...) to it, so that code reading such attributes
of a field keeps working on an edited one.

- Deletion of instance k (of slot s; s = k unless k is one of several pieces of a slot, see
  :mod:`panolift.edit.regions`): density -> 0 wherever a point's own panoptic id is s (the paper's definition)
  and for every point inside k's core voxels (a point-wise check alone leaves floaters on the surface
  where the instance head hesitates, and misses the object's unseen inside, whose labels are arbitrary:
  the core holds it, see :mod:`panolift.edit.regions`); and pi_s -> 0 at every point (rows
  renormalised), since k no longer exists: otherwise the slot-s mass of the remaining samples (the
  instance distribution is rendered over all samples, stuff included) can still make a pixel's argmax k.
  When the slot holds other pieces, the deletion is local as in a move (they live on, and so does pi_s).
- The deletion inside a move is limited to the region: density -> 0 in k's dilated voxels where the id
  is k, and in its core voxels; pi is kept (k lives on at its new place). Exactly what the copy
  re-inserts, so an identity move gives back the scene unchanged.
- Duplication of k at a rigid transform T (x -> R x + t, field coordinates): a sample x whose
  pre-image T^-1 x falls inside k's dilated region is evaluated in the source field at T^-1 x with
  direction R^T d. The copy contributes where the source's id there is k or T^-1 x is in a core voxel
  (the deletion's rule); its output replaces the scene's output where the copy is denser ("denser
  wins": a copy sunk into a wall is hidden by the wall, and the empty space around the copy never
  erases the scene).
- New ids: a copy's instance output is one-hot on a new slot appended after the existing ones, so the
  renderer's argmax gives it the id ``num_slots + 1`` (the n-th copy of a chain gets num_slots + n).
  Other points get probability 0 on that slot. This assumes a bounded (probability) instance field.
  A moved instance keeps its id (the source's instance output is kept).
- The renderer's speed-ups: no wrapper defines ``density`` (the renderer then calls the wrapper itself);
  ``occupancy`` is the wrapped field's grid for a deletion and that grid plus the copy's cells for a
  duplication; a duplication's ``aabb`` grows to hold the copy.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from panolift.field import FieldOutputs, OccupancyGrid, voxel_centers
from panolift.render import FieldWrapper, box_of, compute_panoptic_ids, own_attribute, slot_class_prior_of

from .regions import InstanceRegion


class RigidTransform:
    """x -> R x + t on (num_points, 3) row vectors: ``apply(x) = x @ R^T + t``."""

    def __init__(self, rotation: torch.Tensor, translation: torch.Tensor):
        self.rotation = rotation.to(torch.float32)  # (3, 3)
        self.translation = translation.to(torch.float32)  # (3,)

    @staticmethod
    def from_yaw(translation: torch.Tensor, yaw_radians: float, up: torch.Tensor, pivot: torch.Tensor):
        """Rotate by ``yaw`` about the axis ``up`` through ``pivot``, then translate:

        T(x) = R (x - p) + p + t,  R = I + sin(y) [u]_x + (1 - cos(y)) [u]_x^2  (Rodrigues).
        """
        u = up.to(torch.float32) / up.norm()
        ux = torch.tensor([[0.0, -u[2], u[1]], [u[2], 0.0, -u[0]], [-u[1], u[0], 0.0]])
        rot = torch.eye(3) + math.sin(yaw_radians) * ux + (1.0 - math.cos(yaw_radians)) * (ux @ ux)
        pivot = pivot.to(torch.float32)
        return RigidTransform(rot, pivot - rot @ pivot + translation.to(torch.float32))

    def apply(self, points: torch.Tensor) -> torch.Tensor:
        """(num_points, 3) -> (num_points, 3):  R x + t."""
        return points @ self.rotation.to(points).T + self.translation.to(points)

    def apply_inverse(self, points: torch.Tensor) -> torch.Tensor:
        """(num_points, 3) -> (num_points, 3):  R^T (x - t)."""
        return (points - self.translation.to(points)) @ self.rotation.to(points)

    def rotate_inverse(self, dirs: torch.Tensor) -> torch.Tensor:
        """Directions (num_points, 3) -> R^T d."""
        return dirs @ self.rotation.to(dirs)


class DeleteInstance(FieldWrapper):
    """Zero the density of one 3D instance; ``for_move`` limits it to the region (module docstring)."""

    def __init__(
        self, field: nn.Module, region: InstanceRegion, thing_mask: torch.Tensor, for_move: bool = False
    ):
        super().__init__(field)
        self.region = region
        self.for_move = for_move
        self.thing_mask = thing_mask.clone()  # a plain tensor: buffers would clash with the forwarding

    def forward(self, points: torch.Tensor, dirs: torch.Tensor) -> FieldOutputs:
        out = self.field(points, dirs)
        _, ids = compute_panoptic_ids(
            out.semantics, out.instance, self.thing_mask, slot_class_prior_of(self.field)
        )
        is_k = ids == self.region.slot_id
        local = self.for_move or self.region.shares_slot  # the slot lives on elsewhere
        if local:
            is_k = is_k & self.region.contains(points)
        remove = is_k | self.region.contains(points, core=True)
        density = torch.where(remove, torch.zeros_like(out.density), out.density)
        instance = out.instance
        if not local:
            instance = remove_slot(instance, self.region.slot_id - 1)
        return FieldOutputs(density=density, rgb=out.rgb, semantics=out.semantics, instance=instance)

    @property
    def occupancy(self):
        """A deletion only removes content, so the wrapped field's occupancy grid still covers the scene."""
        return own_attribute(self.field, "occupancy")


def remove_slot(instance: torch.Tensor, slot: int) -> torch.Tensor:
    """pi_j -> pi_j / (1 - pi_slot) for j != slot, pi_slot -> 0 ((num_points, num_slots) probabilities);
    rows whose whole mass was on ``slot`` become zero."""
    keep = torch.ones(instance.shape[-1], dtype=instance.dtype, device=instance.device)
    keep[slot] = 0.0
    kept = instance * keep
    total = kept.sum(dim=-1, keepdim=True)
    return torch.where(total > 0, kept / total.clamp_min(1e-12), kept)


def pad_slots(instance: torch.Tensor, num_slots: int) -> torch.Tensor:
    """(num_points, s) -> (num_points, num_slots) with zero probability on the appended slots."""
    missing = num_slots - instance.shape[-1]
    if missing <= 0:
        return instance
    return torch.cat([instance, instance.new_zeros(instance.shape[0], missing)], dim=-1)


class DuplicateInstance(FieldWrapper):
    """Add a rigidly transformed copy of one 3D instance.

    ``field`` is the scene the copy is added to; ``source`` the field the instance is copied from
    (the same field for a duplication; the field before the deletion for a move). With ``new_slot``
    the copy's instance output is one-hot on that (0-based) slot, so it renders as id new_slot + 1;
    with ``new_slot=None`` (a move) the source's instance output is kept, and so is the id.
    """

    def __init__(
        self,
        field: nn.Module,
        source: nn.Module,
        region: InstanceRegion,
        transform: RigidTransform,
        new_slot: int | None,
        thing_mask: torch.Tensor,
    ):
        super().__init__(field)
        # A plain attribute, not a submodule: ``source`` is usually the wrapped field or inside it.
        self.__dict__["source"] = source
        self.region = region
        self.transform = transform
        self.new_slot = new_slot
        self._occupancy_cache: dict = {}
        self.thing_mask = thing_mask.clone()  # a plain tensor: buffers would clash with the forwarding

    @property
    def num_slots(self):
        """Slots of the output: one more than the wrapped field's for a duplicate."""
        inner = getattr(self.field, "num_slots", None)
        if self.new_slot is None or inner is None:
            return inner
        return max(inner, self.new_slot + 1)

    @property
    def slot_class_prior(self) -> torch.Tensor | None:
        """The wrapped field's instance class distributions (an embedding field's), with the copy's row:
        all on the region's class."""
        inner = slot_class_prior_of(self.field)
        if inner is None or self.new_slot is None:
            return inner
        size = max(inner.shape[0], self.new_slot + 1)
        prior = torch.cat([inner, inner.new_full((size - inner.shape[0], inner.shape[1]), 1.0)])
        prior[self.new_slot] = 0.0
        prior[self.new_slot, self.region.class_id] = 1.0
        return prior

    def copy_bounds(self) -> torch.Tensor:
        """(2, 3) box around the copy: the transformed corners of the region's (dilated) voxels."""
        b = self.region.bounds(dilated=True)
        corners = torch.stack(torch.meshgrid(b[:, 0], b[:, 1], b[:, 2], indexing="ij"), dim=-1).reshape(-1, 3)
        moved = self.transform.apply(corners)
        return torch.stack([moved.amin(dim=0), moved.amax(dim=0)])

    @property
    def aabb(self) -> torch.Tensor:
        """The wrapped field's box grown to hold the copy, so that the renderer samples it."""
        inner = box_of(self.field)
        copy = self.copy_bounds().to(inner)
        return torch.stack([torch.minimum(inner[0], copy[0]), torch.maximum(inner[1], copy[1])])

    @property
    def occupancy(self):
        """The wrapped field's occupancy grid plus the cells whose pre-image lies in the region and in an
        occupied cell of the source's grid (that grid is dilated by a cell, so sampling it at the cell
        centres' pre-images misses nothing). None (no skipping) when either field has no grid or the
        copy leaves the grid's box. An identity move gives back the wrapped field's grid exactly."""
        grid = own_attribute(self.field, "occupancy")
        source_grid = own_attribute(self.source, "occupancy")
        if grid is None or source_grid is None:
            return None
        copy = self.copy_bounds().to(grid.aabb)
        if (copy[0] < grid.aabb[0]).any() or (copy[1] > grid.aabb[1]).any():
            return None
        key = (id(grid.mask), id(source_grid.mask), grid.mask.device)
        if self._occupancy_cache.get("key") != key:
            centres = voxel_centers(grid.aabb, tuple(grid.mask.shape)).reshape(-1, 3)
            pre_images = self.transform.apply_inverse(centres)
            hit = self.region.contains(pre_images) & source_grid.query(pre_images)
            mask = grid.mask | hit.reshape(grid.mask.shape).to(grid.mask.device)
            self._occupancy_cache.update(key=key, grid=OccupancyGrid(grid.aabb, mask))
        return self._occupancy_cache["grid"]

    def forward(self, points: torch.Tensor, dirs: torch.Tensor) -> FieldOutputs:
        out = self.field(points, dirs)
        num_slots = (
            out.instance.shape[-1]
            if self.new_slot is None
            else max(self.new_slot + 1, out.instance.shape[-1])
        )
        density, rgb = out.density, out.rgb
        semantics, instance = out.semantics, pad_slots(out.instance, num_slots)
        src_points = self.transform.apply_inverse(points)
        inside = self.region.contains(src_points).nonzero()[:, 0]
        if inside.numel() == 0:
            return FieldOutputs(density=density, rgb=rgb, semantics=semantics, instance=instance)
        src_inside = src_points[inside]
        src = self.source(src_inside, self.transform.rotate_inverse(dirs[inside]))
        _, src_ids = compute_panoptic_ids(
            src.semantics, src.instance, self.thing_mask, slot_class_prior_of(self.source)
        )
        # The same rule as DeleteInstance, so that an identity move reproduces the scene exactly.
        belongs = (src_ids == self.region.slot_id) | self.region.contains(src_inside, core=True)
        copy_density = torch.where(belongs, src.density, torch.zeros_like(src.density))
        wins = copy_density > density[inside]
        idx = inside[wins]
        density = density.index_put((idx,), copy_density[wins])
        rgb = rgb.index_put((idx,), src.rgb[wins].to(rgb.dtype))
        semantics = semantics.index_put((idx,), src.semantics[wins].to(semantics.dtype))
        if self.new_slot is None:
            copy_instance = pad_slots(src.instance[wins], num_slots)[:, :num_slots]
        else:
            copy_instance = instance.new_zeros(idx.shape[0], num_slots)
            copy_instance[:, self.new_slot] = 1.0
        instance = instance.index_put((idx,), copy_instance.to(instance.dtype))
        return FieldOutputs(density=density, rgb=rgb, semantics=semantics, instance=instance)
