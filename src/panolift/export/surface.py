"""The occupied surface of a panoptic field with per-vertex colour, class and 3D instance id.

The density is sampled at voxel centres over the field's box (padded with one empty voxel so that
surfaces touching the box close), and marching cubes extracts the iso-surface sigma = ``level`` (see
:func:`panolift.render.estimate_surface_density` for the level the renderer effectively uses). Each vertex
is then queried in the field: colour seen head-on (view direction -n, n the outward normal), class =
argmax_{k >= 1} kappa, id = argmax_j pi(j) + 1 for thing classes else 0 (the renderer's convention).
The heads are read half a voxel inside the surface, where the rendered weights concentrate.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import torch
from skimage.measure import marching_cubes
from torch import nn

from panolift.field import voxel_centers
from panolift.render import (
    box_of,
    compute_panoptic_ids,
    evaluate_density,
    evaluate_field_in_chunks,
    field_device,
    slot_class_prior_of,
)
from panolift.scene import SceneError, SceneNormalization

log = logging.getLogger(__name__)


@dataclass
class LabelledSurface:
    """A triangle mesh (or, with no faces, a point cloud) with per-vertex labels, in world units."""

    vertices: np.ndarray  # (num_vertices, 3) float32
    faces: np.ndarray  # (num_faces, 3) int64; (0, 3) for a point cloud
    colors: np.ndarray  # (num_vertices, 3) uint8
    classes: np.ndarray  # (num_vertices,) int64 semantic class
    instances: np.ndarray  # (num_vertices,) int64 panoptic id, 0 for stuff
    normals: np.ndarray  # (num_vertices, 3) float32 outward unit normals

    @property
    def num_vertices(self) -> int:
        return int(self.vertices.shape[0])

    def as_points(self) -> LabelledSurface:
        """The same vertices without faces."""
        return LabelledSurface(
            self.vertices, np.zeros((0, 3), np.int64), self.colors, self.classes, self.instances, self.normals
        )

    def subset(self, keep_vertices: np.ndarray, keep_faces: np.ndarray) -> LabelledSurface:
        """The vertices ``keep_vertices`` (bool) and faces ``keep_faces`` (bool, whose vertices are kept)."""
        remap = np.full(self.num_vertices, -1, dtype=np.int64)
        remap[keep_vertices] = np.arange(int(keep_vertices.sum()))
        faces = remap[self.faces[keep_faces]]
        return LabelledSurface(
            self.vertices[keep_vertices],
            faces.reshape(-1, 3),
            self.colors[keep_vertices],
            self.classes[keep_vertices],
            self.instances[keep_vertices],
            self.normals[keep_vertices],
        )


@torch.no_grad()
def sample_density_grid(
    field: nn.Module, aabb: torch.Tensor, resolution: int, device=None, chunk_points: int = 65536
) -> tuple[np.ndarray, np.ndarray, float]:
    """Density at voxel centres of a cubic-voxel grid over ``aabb``, padded by one zero voxel per side.

    Returns the padded grid (X+2, Y+2, Z+2), the position of padded voxel (0, 0, 0) and the voxel edge.
    """
    aabb = aabb.detach().to("cpu", torch.float32)
    size = aabb[1] - aabb[0]
    voxel = float(size.max()) / resolution
    shape = tuple(max(2, int(round(float(s) / voxel))) for s in size)
    points = voxel_centers(aabb, shape).reshape(-1, 3)
    density = []
    for i in range(0, points.shape[0], chunk_points):
        pts = points[i : i + chunk_points]
        values = evaluate_density(
            field, pts.to(device) if device is not None else pts, chunk_points=chunk_points
        )
        density.append(values.float().cpu())
    grid = torch.cat(density).reshape(shape).numpy()
    padded = np.pad(grid, 1, mode="constant", constant_values=0.0)
    step = (size / torch.tensor(shape, dtype=torch.float32)).numpy()
    origin = aabb[0].numpy() + 0.5 * step - step  # centre of padded voxel (0, 0, 0)
    return padded, origin, step


@torch.no_grad()
def query_vertices(
    field: nn.Module,
    points: torch.Tensor,  # (num_vertices, 3) field coordinates
    normals: torch.Tensor,  # (num_vertices, 3) outward unit normals
    inset: float,
    thing_mask: torch.Tensor,
    chunk_points: int = 65536,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Colour (head-on view), class and panoptic id at surface points: (uint8 rgb, classes, ids)."""
    inside = points - inset * normals
    out = evaluate_field_in_chunks(field, inside, -normals, chunk_points=chunk_points)
    classes, ids = compute_panoptic_ids(out.semantics, out.instance, thing_mask, slot_class_prior_of(field))
    rgb = (out.rgb.clamp(0, 1) * 255).round().to(torch.uint8)
    return rgb.cpu().numpy(), classes.cpu().numpy(), ids.cpu().numpy()


def extract_labelled_surface(
    field: nn.Module,
    thing_mask: torch.Tensor,  # (num_classes,) bool
    normalization: SceneNormalization | None = None,
    resolution: int = 128,
    level: float = 10.0,
    device=None,
    instances=None,
) -> LabelledSurface:
    """Marching cubes at density ``level`` over the field's box (``resolution`` voxels along its longest
    side); labels per vertex; world units when ``normalization`` is given (vertices and normals,
    :meth:`~panolift.scene.SceneNormalization.points_to_world`), else field coordinates. ``instances``
    (a :class:`panolift.edit.InstanceTable`): vertex ids are the pieces' ids, as in renders (default: slot
    ids)."""
    device = device if device is not None else field_device(field)
    aabb = box_of(field)
    grid, origin, step = sample_density_grid(field, aabb, resolution, device=device)
    if not (grid.max() > level):
        raise SceneError(
            f"nothing to export: the density never reaches the level {level:.3g} (max {grid.max():.3g})"
        )
    verts, faces, normals, _ = marching_cubes(grid, level=level, spacing=tuple(float(s) for s in step))
    verts = verts + origin  # marching cubes counts from the first sample
    log.info("marching cubes: %d vertices, %d faces at resolution %s", len(verts), len(faces), grid.shape)
    pts = torch.as_tensor(verts, dtype=torch.float32, device=device)
    nrm = torch.as_tensor(normals.copy(), dtype=torch.float32, device=device)
    colors, classes, ids = query_vertices(field, pts, nrm, 0.5 * float(step.min()), thing_mask)
    if instances is not None:
        ids = instances.ids_at(pts.cpu(), torch.as_tensor(ids)).numpy()
    if normalization is not None:
        verts = normalization.points_to_world(verts)
        normals = normalization.directions_to_world(normals)
    return LabelledSurface(
        vertices=verts.astype(np.float32),
        faces=faces.astype(np.int64),
        colors=colors,
        classes=classes.astype(np.int64),
        instances=ids.astype(np.int64),
        normals=normals.astype(np.float32),
    )


def split_by_instance(surface: LabelledSurface) -> dict[int, LabelledSurface]:
    """One surface per 3D instance id (0 = all stuff). A face goes to the id of the majority of its
    vertices (its first vertex's id when all three differ); vertices are shared where faces need them."""
    parts: dict[int, LabelledSurface] = {}
    if surface.faces.shape[0] == 0:
        for k in np.unique(surface.instances).tolist():
            keep = surface.instances == k
            parts[int(k)] = surface.subset(keep, np.zeros(0, dtype=bool))
        return parts
    fid = surface.instances[surface.faces]  # (num_faces, 3)
    face_id = np.where(fid[:, 1] == fid[:, 2], fid[:, 1], fid[:, 0])
    for k in np.unique(face_id).tolist():
        keep_faces = face_id == k
        keep_vertices = np.zeros(surface.num_vertices, dtype=bool)
        keep_vertices[surface.faces[keep_faces].reshape(-1)] = True
        parts[int(k)] = surface.subset(keep_vertices, keep_faces)
    return parts
