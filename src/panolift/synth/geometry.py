"""The room as one triangle mesh with per-face class, instance and material (what ray casting looks up)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from panolift.scene import ClassSet

from .furniture import Furniture, Part
from .layout import PlacedObject
from .shading import MaterialTable, make_material, stack_materials

WALL_THICKNESS = 0.1


@dataclass
class SceneMesh:
    """Triangles of the whole room and, per face, what a ray hitting it sees."""

    vertices: np.ndarray  # (V, 3) float64
    faces: np.ndarray  # (F, 3) int64
    face_class: np.ndarray  # (F,) class index
    face_instance: np.ndarray  # (F,) scene-consistent thing id, 0 for stuff
    face_material: np.ndarray  # (F,) material id
    face_object: np.ndarray  # (F,) index into ``objects``; -1 for walls, floor and ceiling
    materials: MaterialTable
    objects: list[PlacedObject]
    lights: np.ndarray  # (num_lights, 3) point light positions

    def to_trimesh(self):
        import trimesh

        return trimesh.Trimesh(self.vertices, self.faces, process=False)

    @property
    def face_normals(self) -> np.ndarray:
        """(F, 3) unit normals from the winding (outward for the primitives used here)."""
        tri = self.vertices[self.faces]
        n = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
        return n / np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)


def part_mesh(part: Part) -> tuple[np.ndarray, np.ndarray]:
    """Vertices and faces of one primitive in its object's local frame."""
    import trimesh

    if part.kind == "box":
        mesh = trimesh.creation.box(extents=part.extents)
    elif part.kind == "cylinder":
        mesh = trimesh.creation.cylinder(radius=part.extents[0] / 2, height=part.extents[2], sections=24)
    else:
        raise ValueError(f"unknown primitive kind {part.kind!r}")
    return np.asarray(mesh.vertices) + np.asarray(part.center), np.asarray(mesh.faces)


def room_structure(size: tuple[float, float, float]) -> list[PlacedObject]:
    """Floor, ceiling and four walls as slabs around the box [0, X] x [0, Y] x [0, Z]."""
    X, Y, Z = size
    t = WALL_THICKNESS
    slabs = {
        "floor": [((X / 2, Y / 2, -t / 2), (X + 2 * t, Y + 2 * t, t))],
        "ceiling": [((X / 2, Y / 2, Z + t / 2), (X + 2 * t, Y + 2 * t, t))],
        "wall": [
            ((X / 2, -t / 2, Z / 2), (X + 2 * t, t, Z)),
            ((X / 2, Y + t / 2, Z / 2), (X + 2 * t, t, Z)),
            ((-t / 2, Y / 2, Z / 2), (t, Y, Z)),
            ((X + t / 2, Y / 2, Z / 2), (t, Y, Z)),
        ],
    }
    out = []
    for name, boxes in slabs.items():
        parts = [Part("box", c, e, 0) for c, e in boxes]
        out.append(PlacedObject(Furniture(name, parts, size, "structure"), 0.0, np.zeros(3)))
    return out


def build_scene_mesh(
    objects: list[PlacedObject],
    size: tuple[float, float, float],
    class_set: ClassSet,
    rng: np.random.Generator,
) -> SceneMesh:
    """Concatenate the room structure and all objects; every slot of every object gets its own material."""
    structure = room_structure(size)
    verts, faces, f_class, f_inst, f_mat, f_obj, materials = [], [], [], [], [], [], []
    offset = 0
    for index, obj in enumerate(structure + objects):
        class_id = class_set.names.index(obj.name)
        slots = {}
        T = obj.transform()
        for part in obj.furniture.parts:
            if part.slot not in slots:
                slots[part.slot] = len(materials)
                materials.append(make_material(obj.name, part.slot, rng))
            v, f = part_mesh(part)
            verts.append(v @ T[:3, :3].T + T[:3, 3])
            faces.append(f + offset)
            offset += len(v)
            n = len(f)
            f_class.append(np.full(n, class_id))
            f_inst.append(np.full(n, obj.instance_id))
            f_mat.append(np.full(n, slots[part.slot]))
            f_obj.append(np.full(n, index - len(structure)))
    X, Y, Z = size
    lights = np.array([[X / 3, Y / 2, Z - 0.15], [2 * X / 3, Y / 2, Z - 0.15], [X / 2, Y / 4, Z - 0.15]])
    cat = np.concatenate
    return SceneMesh(
        vertices=cat(verts).astype(np.float64),
        faces=cat(faces).astype(np.int64),
        face_class=cat(f_class).astype(np.int64),
        face_instance=cat(f_inst).astype(np.int64),
        face_material=cat(f_mat).astype(np.int64),
        face_object=cat(f_obj).astype(np.int64),
        materials=stack_materials(materials),
        objects=objects,
        lights=lights,
    )
