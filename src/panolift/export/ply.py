"""Binary little-endian PLY with labelled vertices (written by hand: trimesh keeps no custom properties
on export, but reads them back under ``metadata["_ply_raw"]``).

Vertex properties: x y z (float32, world units), nx ny nz (float32), red green blue (uint8),
class (uint16, semantic class; 0 = void) and instance (uint16, 3D instance id; 0 = stuff).
Faces (meshes only): ``list uchar int vertex_indices``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from panolift.export.surface import LabelledSurface
from panolift.scene.io import SceneError, atomic_path

VERTEX_DTYPE = np.dtype(
    [
        ("x", "<f4"), ("y", "<f4"), ("z", "<f4"),
        ("nx", "<f4"), ("ny", "<f4"), ("nz", "<f4"),
        ("red", "u1"), ("green", "u1"), ("blue", "u1"),
        ("class", "<u2"), ("instance", "<u2"),
    ]
)  # fmt: skip
FACE_DTYPE = np.dtype([("count", "u1"), ("vertex_indices", "<i4", (3,))])
PLY_TYPES = {"<f4": "float", "u1": "uchar", "<u2": "ushort"}


def ply_header(num_vertices: int, num_faces: int, comments: list[str]) -> bytes:
    lines = ["ply", "format binary_little_endian 1.0", *[f"comment {c}" for c in comments]]
    lines.append(f"element vertex {num_vertices}")
    for name in VERTEX_DTYPE.names:
        lines.append(f"property {PLY_TYPES[VERTEX_DTYPE[name].str.replace('|', '')]} {name}")
    if num_faces:
        lines += [f"element face {num_faces}", "property list uchar int vertex_indices"]
    lines.append("end_header")
    return ("\n".join(lines) + "\n").encode("ascii")


def write_ply(path: str | Path, surface: LabelledSurface, comments: list[str] | None = None) -> None:
    """Write a labelled mesh (or point cloud when it has no faces) atomically."""
    if surface.instances.max(initial=0) > np.iinfo(np.uint16).max:
        raise ValueError("instance ids above 65535 do not fit the PLY's uint16 property")
    vertices = np.empty(surface.num_vertices, dtype=VERTEX_DTYPE)
    for i, name in enumerate(("x", "y", "z")):
        vertices[name] = surface.vertices[:, i]
        vertices["n" + name] = surface.normals[:, i]
    for i, name in enumerate(("red", "green", "blue")):
        vertices[name] = surface.colors[:, i]
    vertices["class"] = surface.classes
    vertices["instance"] = surface.instances
    faces = np.empty(surface.faces.shape[0], dtype=FACE_DTYPE)
    faces["count"] = 3
    faces["vertex_indices"] = surface.faces
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            f.write(ply_header(len(vertices), len(faces), comments or []))
            f.write(vertices.tobytes())
            f.write(faces.tobytes())


def read_ply_labels(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """(vertex structured array, faces (num_faces, 3)) of a PLY written by :func:`write_ply`."""
    path = Path(path)
    data = path.read_bytes()
    end = data.find(b"end_header\n")
    if not data.startswith(b"ply\n") or end < 0:
        raise SceneError(f"{path}: not a PLY file")
    header = data[:end].decode("ascii").splitlines()
    counts = {line.split()[1]: int(line.split()[2]) for line in header if line.startswith("element")}
    body = data[end + len("end_header\n") :]
    num_vertices, num_faces = counts.get("vertex", 0), counts.get("face", 0)
    if len(body) != num_vertices * VERTEX_DTYPE.itemsize + num_faces * FACE_DTYPE.itemsize:
        raise SceneError(f"{path}: not a labelled PLY written by panolift (unexpected size)")
    vertices = np.frombuffer(body, dtype=VERTEX_DTYPE, count=num_vertices)
    faces = np.frombuffer(
        body, dtype=FACE_DTYPE, count=num_faces, offset=num_vertices * VERTEX_DTYPE.itemsize
    )
    return vertices, faces["vertex_indices"].astype(np.int64)
