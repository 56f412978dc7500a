"""GLB (binary glTF) with vertex colours, for viewers: one node per part (the whole scene, or one per
3D instance plus the stuff). Classes and instance ids are in the node names (glTF viewers show colours,
not custom attributes); the PLY carries them per vertex."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from panolift.export.surface import LabelledSurface
from panolift.scene.io import atomic_path


def surface_to_trimesh(surface: LabelledSurface):
    """A trimesh.Trimesh (faces) or trimesh.PointCloud (no faces) with RGBA vertex colours."""
    import trimesh

    rgba = np.concatenate([surface.colors, np.full((surface.num_vertices, 1), 255, np.uint8)], axis=1)
    if surface.faces.shape[0] == 0:
        return trimesh.PointCloud(surface.vertices, colors=rgba)
    return trimesh.Trimesh(
        vertices=surface.vertices,
        faces=surface.faces,
        vertex_normals=surface.normals,
        vertex_colors=rgba,
        process=False,
    )


def write_glb(path: str | Path, parts: dict[str, LabelledSurface]) -> None:
    """Write named parts (node name -> surface) as one GLB scene, atomically."""
    import trimesh

    scene = trimesh.Scene()
    for name, surface in parts.items():
        if surface.num_vertices:
            scene.add_geometry(surface_to_trimesh(surface), node_name=name, geom_name=name)
    data = scene.export(file_type="glb")
    with atomic_path(path) as tmp:
        Path(tmp).write_bytes(data)
