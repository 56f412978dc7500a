"""Procedural materials and shading: per-object colours, world-space patterns, Lambert plus ambient light,
and Blinn-Phong highlights on glossy materials (``AppearanceConfig.gloss``; none by default).

Patterns live in world space, so a surface point looks the same from every view (what structure from
motion and a radiance field need); every material also carries fine value noise so that images have
enough corners and blobs for SIFT.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

PATTERNS = ("noise", "stripes", "checker", "planks", "cells")
"""Patterns a material draws from (the original rooms' set; the draw depends on its length)."""
ALL_PATTERNS = (*PATTERNS, "grain")
"""Every pattern ``evaluate_pattern`` knows; "grain" (wood) is given by ``restyle_materials`` only."""
WOODEN = ("floor", "table", "door", "shelves", "cabinet")
GLOSSY = (
    "floor",
    "table",
    "counter",
    "cabinet",
    "refrigerator",
    "television",
    "window",
    "sink",
    "toilet",
    "door",
)
"""Classes whose main surface turns glossy when ``AppearanceConfig.gloss`` > 0 (varnish, glass, enamel,
lacquer, polished stone: what shows a lamp's highlight in a real room)."""

# Base colours of slot 0 (the main surface) per class; a material jitters one of them.
PALETTE: dict[str, tuple[tuple[float, float, float], ...]] = {
    "wall": ((0.86, 0.83, 0.76), (0.78, 0.84, 0.86), (0.88, 0.8, 0.72)),
    "floor": ((0.55, 0.38, 0.22), (0.45, 0.42, 0.4), (0.62, 0.5, 0.36)),
    "ceiling": ((0.93, 0.93, 0.9),),
    "chair": ((0.62, 0.22, 0.16), (0.2, 0.32, 0.62), (0.5, 0.36, 0.2), (0.2, 0.5, 0.3)),
    "sofa": ((0.3, 0.36, 0.55), (0.55, 0.2, 0.22), (0.36, 0.48, 0.3), (0.6, 0.55, 0.45)),
    "bed": ((0.85, 0.85, 0.92), (0.4, 0.55, 0.75), (0.75, 0.6, 0.7)),
    "table": ((0.5, 0.33, 0.18), (0.7, 0.55, 0.35), (0.3, 0.3, 0.32)),
    "cabinet": ((0.88, 0.86, 0.8), (0.55, 0.38, 0.22), (0.4, 0.5, 0.45)),
    "shelves": ((0.6, 0.45, 0.28), (0.9, 0.9, 0.88), (0.3, 0.25, 0.22)),
    "counter": ((0.5, 0.5, 0.52), (0.8, 0.78, 0.72), (0.25, 0.25, 0.28)),
    "refrigerator": ((0.9, 0.9, 0.92), (0.7, 0.72, 0.75)),
    "television": ((0.2, 0.4, 0.7), (0.6, 0.3, 0.5), (0.3, 0.6, 0.4)),
    "door": ((0.55, 0.36, 0.2), (0.92, 0.92, 0.9), (0.35, 0.3, 0.28)),
    "window": ((0.7, 0.86, 0.98),),
    "curtain": ((0.7, 0.25, 0.25), (0.3, 0.45, 0.6), (0.85, 0.75, 0.5), (0.45, 0.6, 0.4)),
    "bag": ((0.75, 0.2, 0.15), (0.15, 0.25, 0.55), (0.2, 0.55, 0.25), (0.85, 0.65, 0.1), (0.1, 0.1, 0.12)),
    "lamp": ((0.95, 0.9, 0.75), (0.9, 0.6, 0.4)),
    "sink": ((0.95, 0.95, 0.95),),
    "toilet": ((0.95, 0.95, 0.95),),
    "person": ((0.3, 0.5, 0.7), (0.7, 0.3, 0.3), (0.85, 0.8, 0.3)),
}
PATTERN_PREFERENCE: dict[str, tuple[str, ...]] = {
    "wall": ("cells", "noise", "stripes"), "floor": ("planks", "checker", "cells"), "ceiling": ("noise", "cells"),
    "table": ("planks",), "shelves": ("planks",), "door": ("planks", "noise"), "window": ("noise",),
    "curtain": ("stripes",), "sofa": ("checker", "noise", "stripes"), "bed": ("checker", "stripes"),
    "television": ("noise", "checker"),
}  # fmt: skip
SECONDARY_COLOURS = ((0.25, 0.2, 0.16), (0.5, 0.5, 0.52), (0.15, 0.15, 0.16), (0.45, 0.3, 0.18))


@dataclass
class MaterialTable:
    """Materials as arrays indexed by material id (M materials)."""

    color: np.ndarray  # (M, 3) albedo in [0, 1]
    pattern: np.ndarray  # (M,) index into PATTERNS
    scale: np.ndarray  # (M,) pattern frequency, cycles per metre
    contrast: np.ndarray  # (M,) pattern contrast in [0, 1]
    direction: np.ndarray  # (M, 3) unit direction of stripes and planks
    seed: np.ndarray  # (M,) noise seed
    detail: np.ndarray  # (M,) amplitude of the fine detail noise
    specular: np.ndarray  # (M,) strength of the white Blinn-Phong highlight; 0: matte (Lambertian)
    shininess: np.ndarray  # (M,) Blinn-Phong exponent (the highlight's tightness)
    reflect: np.ndarray  # (M,) Fresnel reflectance at normal incidence F0 of a mirror-like coat; 0: none


def make_material(class_name: str, slot: int, rng: np.random.Generator) -> dict:
    """A random material for one slot of an object of ``class_name`` (a dict of MaterialTable fields)."""
    if slot == 0:
        palette = PALETTE.get(class_name) or (tuple(rng.uniform(0.15, 0.85, 3)),)
        color = np.asarray(palette[rng.integers(len(palette))])
    elif slot == 1:
        color = np.asarray(SECONDARY_COLOURS[rng.integers(len(SECONDARY_COLOURS))])
    else:
        color = rng.uniform(0.1, 0.9, 3)
    color = np.clip(color + rng.normal(0.0, 0.04, 3), 0.02, 1.0)
    choices = PATTERN_PREFERENCE.get(class_name, PATTERNS) if slot == 0 else PATTERNS
    pattern = PATTERNS.index(choices[rng.integers(len(choices))])
    direction = np.zeros(3)
    if class_name in ("wall", "curtain") and PATTERNS[pattern] == "stripes":
        direction[:2] = rng.normal(size=2)  # vertical stripes on walls and curtains
    else:
        direction[rng.integers(3)] = 1.0
        direction += rng.normal(0.0, 0.15, 3)
    direction /= np.linalg.norm(direction)
    big = class_name in ("wall", "floor", "ceiling")
    return {
        "color": color,
        "pattern": pattern,
        "scale": rng.uniform(3.0, 6.0) if big else rng.uniform(4.0, 10.0),
        "contrast": rng.uniform(0.3, 0.45) if big else rng.uniform(0.3, 0.55),
        "direction": direction,
        "seed": int(rng.integers(1 << 30)),
        "detail": 0.5,
        "specular": 0.0,
        "shininess": 1.0,
        "reflect": 0.0,
    }


def restyle_materials(
    materials: list[dict], kinds: list[tuple[str, int]], appearance, rng: np.random.Generator
) -> None:
    """Apply an ``AppearanceConfig`` to drawn materials in place; ``kinds``: (class name, slot) of each.

    scale *= texture_density; contrast <- min(contrast * texture_contrast, 0.95); detail <- appearance.detail;
    the main surface of wooden classes turns to wood grain with probability wood_grain; plain walls and
    ceilings get contrast U(0.02, 0.05) and detail 0.03; with gloss > 0 the main surface of a GLOSSY class gets
    specular gloss x U(0.5, 1) and shininess exp U(log 4, log 40) (drawn after everything else, so a
    matte room's draws are those of the rooms before gloss existed); with reflection > 0 the main surface of
    a GLOSSY class also gets a mirror-like coat of reflectance F0 = reflection x U(0.5, 1) (drawn last).
    """
    for material, (name, slot) in zip(materials, kinds, strict=True):
        material["scale"] = material["scale"] * appearance.texture_density
        material["contrast"] = min(material["contrast"] * appearance.texture_contrast, 0.95)
        material["detail"] = appearance.detail
        if slot == 0 and name in WOODEN and rng.random() < appearance.wood_grain:
            material["pattern"] = ALL_PATTERNS.index("grain")
        if appearance.plain_walls and name in ("wall", "ceiling"):
            material["contrast"] = rng.uniform(0.02, 0.05)
            material["detail"] = 0.03
    if appearance.gloss > 0.0:
        for material, (name, slot) in zip(materials, kinds, strict=True):
            if slot == 0 and name in GLOSSY:
                material["specular"] = appearance.gloss * rng.uniform(0.5, 1.0)
                material["shininess"] = float(np.exp(rng.uniform(np.log(4.0), np.log(40.0))))
    if appearance.reflection > 0.0:
        for material, (name, slot) in zip(materials, kinds, strict=True):
            if slot == 0 and name in GLOSSY:
                material["reflect"] = appearance.reflection * rng.uniform(0.5, 1.0)


def stack_materials(materials: list[dict]) -> MaterialTable:
    return MaterialTable(**{k: np.stack([np.asarray(m[k]) for m in materials]) for k in materials[0]})


def hash_lattice(ix: np.ndarray, iy: np.ndarray, iz: np.ndarray, seed: np.ndarray) -> np.ndarray:
    """Pseudo-random value in [0, 1) per integer lattice point (splitmix-style integer mixing)."""
    h = (
        ix.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)
        ^ iy.astype(np.uint64) * np.uint64(0xC2B2AE3D27D4EB4F)
        ^ iz.astype(np.uint64) * np.uint64(0x165667B19E3779F9)
        ^ seed.astype(np.uint64) * np.uint64(0x27D4EB2F165667C5)
    )
    h ^= h >> np.uint64(31)
    h *= np.uint64(0xBF58476D1CE4E5B9)
    h ^= h >> np.uint64(29)
    return (h >> np.uint64(11)).astype(np.float64) / float(1 << 53)


def value_noise(points: np.ndarray, seed: np.ndarray) -> np.ndarray:
    """Smooth 3D value noise in [0, 1]: trilinear blend (smoothstep weights) of hashed lattice values.

    points: (num_points, 3) in lattice units; seed: (num_points,) int.
    """
    base = np.floor(points)
    frac = points - base
    u = frac * frac * (3.0 - 2.0 * frac)
    i = base.astype(np.int64)
    out = np.zeros(len(points))
    for dx in (0, 1):
        wx = u[:, 0] if dx else 1.0 - u[:, 0]
        for dy in (0, 1):
            wy = u[:, 1] if dy else 1.0 - u[:, 1]
            for dz in (0, 1):
                wz = u[:, 2] if dz else 1.0 - u[:, 2]
                out += wx * wy * wz * hash_lattice(i[:, 0] + dx, i[:, 1] + dy, i[:, 2] + dz, seed)
    return out


def fractal_noise(points: np.ndarray, seed: np.ndarray, octaves: int = 3) -> np.ndarray:
    """Fractal Brownian motion: sum_o 0.5^o noise(2^o p), normalised to [0, 1]."""
    total, norm = np.zeros(len(points)), 0.0
    for o in range(octaves):
        total += 0.5**o * value_noise(points * 2.0**o, seed + o)
        norm += 0.5**o
    return total / norm


def evaluate_pattern(points: np.ndarray, material: np.ndarray, table: MaterialTable) -> np.ndarray:
    """Pattern value in [0, 1] at world points (num_points, 3) for per-point material ids (num_points,)."""
    scale = table.scale[material][:, None]
    seed = table.seed[material]
    p = points * scale
    along = np.einsum("nk,nk->n", p, table.direction[material])
    kind = table.pattern[material]
    value = fractal_noise(p, seed)  # "noise"; also mixed into the other patterns
    for name in ALL_PATTERNS[1:]:
        sel = np.flatnonzero(kind == ALL_PATTERNS.index(name))
        if len(sel) == 0:
            continue
        if name == "stripes":
            pattern = np.clip((np.sin(2.0 * np.pi * along[sel]) + 0.3) * 2.0, 0.0, 1.0)
        elif name == "checker":
            pattern = (np.floor(p[sel]).astype(np.int64).sum(axis=1) % 2).astype(np.float64)
        elif name == "planks":
            ix = np.floor(along[sel]).astype(np.int64)
            pattern = hash_lattice(ix, np.zeros_like(ix), np.zeros_like(ix), seed[sel])
        elif name == "grain":  # growth rings around an axis along the direction, warped by noise
            axis = table.direction[material[sel]]
            across = p[sel] - along[sel, None] * axis
            ring = 2.0 * np.linalg.norm(across, axis=1) + 1.5 * value[sel]
            pattern = 0.5 + 0.5 * np.sin(2.0 * np.pi * ring)
        else:  # "cells": tiles of random brightness, whose corners make good features
            ip = np.floor(p[sel]).astype(np.int64)
            pattern = hash_lattice(ip[:, 0], ip[:, 1], ip[:, 2], seed[sel])
        value[sel] = 0.75 * pattern + 0.25 * value[sel]
    return value


def shade_points(
    points: np.ndarray,  # (num_rays, 3) world hit points
    normals: np.ndarray,  # (num_rays, 3) unit normals facing the camera
    material: np.ndarray,  # (num_rays,) material ids
    table: MaterialTable,
    lights: np.ndarray,  # (num_lights, 3) point light positions
    visible: np.ndarray | None = None,  # (num_rays, num_lights) bool, False where a light is shadowed
    ambient: float = 0.35,
    intensities: np.ndarray | None = None,  # (num_lights,); None: 1.4 (1 - ambient) / num_lights each
    to_camera: np.ndarray | None = None,  # (num_rays, 3) unit vectors towards the camera; None: no highlights
) -> np.ndarray:
    """Colour (num_rays, 3) in [0, 1]: rgb = albedo * (ambient + sum_l v_l max(0, n.l) I_l / (1 + 0.1 d_l^2))
    + sum_l v_l [n.l > 0] s max(0, n.h_l)^p I_l / (1 + 0.1 d_l^2),

    with albedo = colour * ((1 - contrast) + contrast * pattern) * ((1 - a / 2) + a * detail noise), a the
    material's detail amplitude, v_l the light's visibility, and the second sum a white Blinn-Phong
    highlight (s, p the material's specular strength and shininess, h_l the unit half vector between the
    light and the camera): it moves with the viewpoint, as on varnished floors, screens and glass.
    """
    pattern = evaluate_pattern(points, material, table)
    contrast = table.contrast[material]
    amplitude = table.detail[material]
    # mid-frequency detail (a few pixels per cycle at room distances): features that do not alias
    detail = (1.0 - 0.5 * amplitude) + amplitude * fractal_noise(
        points * 12.0, table.seed[material] + 17, octaves=2
    )
    albedo = table.color[material] * (((1.0 - contrast) + contrast * pattern) * detail)[:, None]
    light = np.full(len(points), ambient)
    specular = table.specular[material]
    glossy = np.flatnonzero(specular > 0.0) if to_camera is not None else np.zeros(0, dtype=np.int64)
    highlight = np.zeros(len(points))
    for index, pos in enumerate(lights):
        intensity = (1.0 - ambient) * 1.4 / len(lights) if intensities is None else intensities[index]
        to_light = pos - points
        dist2 = np.einsum("nk,nk->n", to_light, to_light)
        cos = np.einsum("nk,nk->n", normals, to_light) / np.sqrt(np.maximum(dist2, 1e-12))
        lit = intensity * np.maximum(cos, 0.0) / (1.0 + 0.1 * dist2)
        light += lit if visible is None else lit * visible[:, index]
        if len(glossy):
            to_l = to_light[glossy] / np.sqrt(np.maximum(dist2[glossy], 1e-12))[:, None]
            half = to_l + to_camera[glossy]
            half /= np.maximum(np.linalg.norm(half, axis=1), 1e-12)[:, None]
            n_h = np.maximum(np.einsum("nk,nk->n", normals[glossy], half), 0.0)
            spec = specular[glossy] * n_h ** table.shininess[material[glossy]] * (cos[glossy] > 0.0)
            spec *= intensity / (1.0 + 0.1 * dist2[glossy])
            highlight[glossy] += spec if visible is None else spec * visible[glossy, index]
    return np.clip(albedo * light[:, None] + highlight[:, None], 0.0, 1.0)


def fresnel_schlick(f0: np.ndarray, cos_view: np.ndarray) -> np.ndarray:
    """Schlick's approximation of the reflected share: F0 + (1 - F0) (1 - cos)^5, zero where F0 is zero (a
    matte surface reflects nothing at any angle); cos: between the normal and the direction to the camera."""
    grazing = (1.0 - np.clip(cos_view, 0.0, 1.0)) ** 5
    return np.where(f0 > 0.0, f0 + (1.0 - f0) * grazing, 0.0)
