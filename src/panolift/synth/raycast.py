"""Exact per-pixel depth, class, instance and colour by ray casting the room mesh (trimesh + Embree)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .geometry import SceneMesh
from .shading import fresnel_schlick, shade_points


@dataclass
class RayHits:
    face: np.ndarray  # (num_rays,) hit face index, -1 where the ray escapes
    distance: np.ndarray  # (num_rays,) distance along the (unit) ray, inf on a miss
    points: np.ndarray  # (num_rays, 3) hit points, nan on a miss


class RayCaster:
    """First-hit ray casting through Embree (trimesh's ``RayMeshIntersector``)."""

    def __init__(self, mesh: SceneMesh):
        from trimesh.ray.ray_pyembree import RayMeshIntersector

        self.mesh = mesh
        self._intersector = RayMeshIntersector(mesh.to_trimesh())

    def cast(self, origins: np.ndarray, directions: np.ndarray) -> RayHits:
        """First hits of rays (num_rays, 3) origins and unit directions."""
        n = len(origins)
        tri, ray, loc = self._intersector.intersects_id(
            origins, directions, multiple_hits=False, return_locations=True
        )
        face = np.full(n, -1, dtype=np.int64)
        points = np.full((n, 3), np.nan)
        distance = np.full(n, np.inf)
        face[ray] = tri
        points[ray] = loc
        distance[ray] = np.einsum("nk,nk->n", loc - origins[ray], directions[ray])
        return RayHits(face, distance, points)


def pixel_rays(
    K: np.ndarray, c2w: np.ndarray, width: int, height: int, offset: tuple[float, float] = (0.5, 0.5)
) -> tuple[np.ndarray, np.ndarray]:
    """Rays through pixel (x + ox, y + oy), row-major: d = R K^-1 [x + ox, y + oy, 1]^T, normalised.

    With the default offset these are the pixel centres, as in ``panolift.scene.generate_rays``.
    Returns origins and unit directions, each (height * width, 3).
    """
    ys, xs = np.meshgrid(
        np.arange(height, dtype=np.float64), np.arange(width, dtype=np.float64), indexing="ij"
    )
    x = (xs.reshape(-1) + offset[0] - K[0, 2]) / K[0, 0]
    y = (ys.reshape(-1) + offset[1] - K[1, 2]) / K[1, 1]
    dirs = np.stack([x, y, np.ones_like(x)], axis=-1) @ c2w[:3, :3].T
    dirs /= np.linalg.norm(dirs, axis=-1, keepdims=True)
    return np.broadcast_to(c2w[:3, 3], dirs.shape).copy(), dirs


@dataclass
class RenderedFrame:
    rgb: np.ndarray  # (H, W, 3) float in [0, 1]
    depth: np.ndarray  # (H, W) z-depth in metres (along the optical axis), 0 on a miss
    semantics: np.ndarray  # (H, W) class index, 0 on a miss
    instance: np.ndarray  # (H, W) scene-consistent thing id, 0 for stuff or a miss


def light_visibility(caster: RayCaster, points: np.ndarray, normals: np.ndarray) -> np.ndarray:
    """(num_points, num_lights) bool: is the segment from each point to each light free of geometry?

    Shadow rays start a millimetre off the surface (along the normal) so they do not hit it again.
    """
    lights = caster.mesh.lights
    visible = np.ones((len(points), len(lights)), dtype=bool)
    origins = points + 1e-3 * normals
    for index, pos in enumerate(lights):
        to_light = pos - origins
        dist = np.linalg.norm(to_light, axis=1)
        hits = caster.cast(origins, to_light / np.maximum(dist, 1e-12)[:, None])
        visible[:, index] = hits.distance >= dist
    return visible


def shade_hits(
    caster: RayCaster, hits: RayHits, directions: np.ndarray, shadows: bool = True, bounces: int = 1
) -> np.ndarray:
    """Colours (num_rays, 3) of ray hits (with shadow rays towards every light); escaped rays are black.

    Surfaces with a mirror-like coat (``MaterialTable.reflect`` > 0) mix in what the reflected ray sees,
    (1 - F) diffuse + F reflected with F Schlick's Fresnel share, up to ``bounces`` reflections deep."""
    mesh = caster.mesh
    rgb = np.zeros((len(hits.face), 3))
    ok = hits.face >= 0
    if ok.any():
        normals = mesh.face_normals[hits.face[ok]]
        flip = np.einsum("nk,nk->n", normals, directions[ok]) > 0  # face the camera
        normals[flip] *= -1.0
        points = hits.points[ok]
        material = mesh.face_material[hits.face[ok]]
        to_camera = -directions[ok] / np.linalg.norm(directions[ok], axis=1, keepdims=True)
        visible = light_visibility(caster, points, normals) if shadows else None
        rgb[ok] = shade_points(
            points,
            normals,
            material,
            mesh.materials,
            mesh.lights,
            visible,
            ambient=mesh.ambient,
            intensities=mesh.light_intensity,
            to_camera=to_camera,
        )
        if bounces > 0:
            cos_view = np.einsum("nk,nk->n", normals, to_camera)
            share = fresnel_schlick(mesh.materials.reflect[material], cos_view)
            mirror = np.flatnonzero(share > 0.0)
            if len(mirror):
                n = normals[mirror]
                d = -to_camera[mirror]
                reflected = d - 2.0 * np.einsum("nk,nk->n", d, n)[:, None] * n
                origins = points[mirror] + 1e-3 * n
                seen = shade_hits(caster, caster.cast(origins, reflected), reflected, shadows, bounces - 1)
                rows = np.flatnonzero(ok)[mirror]
                rgb[rows] = (1.0 - share[mirror, None]) * rgb[rows] + share[mirror, None] * seen
    return rgb


def render_frame(
    caster: RayCaster,
    K: np.ndarray,
    c2w: np.ndarray,
    width: int,
    height: int,
    supersample: int = 1,
    shadows: bool = True,
    shutter: np.ndarray | None = None,
) -> RenderedFrame:
    """Ray-cast one view: labels and depth at pixel centres, colour averaged over supersample^2 rays.

    ``shutter`` ((n, 4, 4) camera poses while the shutter is open, e.g. ``trajectory.shutter_poses``)
    blurs the colour with the camera's motion: it is averaged over max(n, supersample^2) rays a pixel,
    each from a pose of the shutter (in order) through the next of the supersample offsets."""
    mesh = caster.mesh
    origins, dirs = pixel_rays(K, c2w, width, height)
    hits = caster.cast(origins, dirs)
    ok = hits.face >= 0
    face = np.where(ok, hits.face, 0)
    semantics = np.where(ok, mesh.face_class[face], 0)
    instance = np.where(ok, mesh.face_instance[face], 0)
    z_axis = c2w[:3, 2]
    depth = np.where(ok, hits.distance * (dirs @ z_axis), 0.0)
    if shutter is not None and len(shutter) > 1:
        grid = [
            ((j + 0.5) / supersample, (i + 0.5) / supersample)
            for i in range(supersample)
            for j in range(supersample)
        ]
        total = max(len(shutter), len(grid))
        rgb = np.zeros((width * height, 3))
        for k in range(total):
            o, d = pixel_rays(K, shutter[k * len(shutter) // total], width, height, grid[k % len(grid)])
            rgb += shade_hits(caster, caster.cast(o, d), d, shadows)
        rgb /= total
    elif supersample == 1:
        rgb = shade_hits(caster, hits, dirs, shadows)
    else:
        rgb = np.zeros((width * height, 3))
        for i in range(supersample):
            for j in range(supersample):
                off = ((j + 0.5) / supersample, (i + 0.5) / supersample)
                o, d = pixel_rays(K, c2w, width, height, off)
                rgb += shade_hits(caster, caster.cast(o, d), d, shadows)
        rgb /= supersample**2
    shape = (height, width)
    return RenderedFrame(
        rgb.reshape(height, width, 3), depth.reshape(shape), semantics.reshape(shape), instance.reshape(shape)
    )
