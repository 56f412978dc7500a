"""The room as one triangle mesh with per-face class, instance and material (what ray casting looks up)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from panolift.scene import ClassSet

from .config import AppearanceConfig
from .furniture import Furniture, Part
from .layout import PlacedObject
from .shading import MaterialTable, make_material, restyle_materials, stack_materials

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
    light_intensity: np.ndarray | None = None  # (num_lights,); None: 1.4 (1 - ambient) / num_lights each
    ambient: float = 0.35

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


def cutout_block(lo: np.ndarray, hi: np.ndarray, size: tuple[float, float, float]) -> tuple[tuple, tuple]:
    """(center, extents) of a solid full-height block of wall over the floor-plan rectangle [lo, hi] (xy).

    The block reaches into the floor and ceiling slabs, and into the outer walls it touches, so that no
    crack opens along its edges; its faces that look into the room are exactly the rectangle's sides.
    """
    X, Y, Z = size
    t = WALL_THICKNESS
    lo3 = np.array([lo[0] - t * (lo[0] <= 1e-9), lo[1] - t * (lo[1] <= 1e-9), -t])
    hi3 = np.array([hi[0] + t * (hi[0] >= X - 1e-9), hi[1] + t * (hi[1] >= Y - 1e-9), Z + t])
    return tuple((lo3 + hi3) / 2), tuple(hi3 - lo3)


def platform_block(platform: tuple[float, float], size: tuple[float, float, float]) -> tuple[tuple, tuple]:
    """(center, extents) of a raised floor ``platform`` = (height, depth): a solid block over
    y >= Y - depth along the whole room, from inside the floor slab up to the height, reaching into the
    walls it touches (see ``SynthConfig.platform``)."""
    X, Y, _ = size
    height, depth = platform
    t = WALL_THICKNESS
    lo = np.array([-t, Y - depth, -t])
    hi = np.array([X + t, Y + t, height])
    return tuple((lo + hi) / 2), tuple(hi - lo)


def room_structure(
    size: tuple[float, float, float],
    cutouts: list[np.ndarray] = (),
    platform: tuple[float, float] = (0.0, 0.0),
) -> list[PlacedObject]:
    """Floor, ceiling and four walls as slabs around the box [0, X] x [0, Y] x [0, Z], plus a solid block
    of wall over every floor-plan cutout (each (2, 2): lo, hi in xy) and, with a ``platform`` (height,
    depth), a raised floor: part of the floor, with its material and class."""
    X, Y, Z = size
    t = WALL_THICKNESS
    raised = [platform_block(platform, size)] if platform[0] > 0.0 else []
    slabs = {
        "floor": [((X / 2, Y / 2, -t / 2), (X + 2 * t, Y + 2 * t, t)), *raised],
        "ceiling": [((X / 2, Y / 2, Z + t / 2), (X + 2 * t, Y + 2 * t, t))],
        "wall": [
            ((X / 2, -t / 2, Z / 2), (X + 2 * t, t, Z)),
            ((X / 2, Y + t / 2, Z / 2), (X + 2 * t, t, Z)),
            ((-t / 2, Y / 2, Z / 2), (t, Y, Z)),
            ((X + t / 2, Y / 2, Z / 2), (t, Y, Z)),
            *(cutout_block(lo, hi, size) for lo, hi in cutouts),
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
    cutouts: list[np.ndarray] = (),
    appearance: AppearanceConfig | None = None,
    style_rng: np.random.Generator | None = None,
    platform: tuple[float, float] = (0.0, 0.0),
) -> SceneMesh:
    """Concatenate the room structure and all objects; every slot of every object gets its own material.

    ``cutouts``: floor-plan rectangles filled with wall (see ``FloorPlan``); ``platform``: a raised floor
    (see :func:`platform_block`). ``appearance``: texture and
    light settings applied after the materials are drawn (``style_rng`` draws the restyling, so that
    ``rng`` is consumed as in the original rooms); None keeps the original look and lights.
    """
    structure = room_structure(size, cutouts, platform)
    verts, faces, f_class, f_inst, f_mat, f_obj, materials = [], [], [], [], [], [], []
    material_kinds: list[tuple[str, int]] = []  # (class name, slot) per material
    offset = 0
    for index, obj in enumerate(structure + objects):
        class_id = class_set.names.index(obj.name)
        slots = {}
        T = obj.transform()
        for part in obj.furniture.parts:
            if part.slot not in slots:
                slots[part.slot] = len(materials)
                materials.append(make_material(obj.name, part.slot, rng))
                material_kinds.append((obj.name, part.slot))
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
    intensity, ambient = None, 0.35
    if appearance is not None:
        restyle_materials(materials, material_kinds, appearance, style_rng or np.random.default_rng(0))
        ambient = appearance.ambient
        if appearance.lights:
            lights = np.array([light[:3] for light in appearance.lights], dtype=np.float64)
            intensity = np.array([light[3] for light in appearance.lights], dtype=np.float64)
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
        light_intensity=intensity,
        ambient=ambient,
    )
