"""Furniture made of primitives (boxes and cylinders), one builder per class, in a local frame.

Local frame: x across the object's width, y its depth with the front towards +y (the back stands against
a wall), z up, origin at the centre of the footprint on the floor. Materials are referred to by slot
(0 = main surface, 1 = frame/legs, 2 = accents); the layout gives every slot of every object a material.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Part:
    """One primitive: a box (extents = full sizes) or a z-aligned cylinder (extents = (2r, 2r, height))."""

    kind: str  # "box" | "cylinder"
    center: tuple[float, float, float]
    extents: tuple[float, float, float]
    slot: int = 0


@dataclass
class Furniture:
    """An object in its local frame: parts, bounding size, where it may go, and surfaces others may rest on."""

    name: str  # class name (SCANNET21)
    parts: list[Part]
    size: tuple[float, float, float]  # (width, depth, height) of the local bounding box
    mode: str  # "wall" (stands against a wall), "floor", "mounted" (on a wall, above the floor), "on_top"
    elevation: float = 0.0  # height of the bottom above the floor (mounted objects)
    supports: list[tuple[float, float]] = field(default_factory=list)  # (z, clearance) of horizontal tops


def _box(center, extents, slot=0) -> Part:
    return Part("box", tuple(float(v) for v in center), tuple(float(v) for v in extents), slot)


def _cyl(center, radius, height, slot=0) -> Part:
    return Part("cylinder", tuple(float(v) for v in center), (2 * radius, 2 * radius, float(height)), slot)


def _legs(w: float, d: float, h: float, t: float = 0.045, slot: int = 1) -> list[Part]:
    """Four square legs of height h at the corners of a w x d footprint."""
    xs, ys = (w / 2 - t / 2), (d / 2 - t / 2)
    return [_box((sx * xs, sy * ys, h / 2), (t, t, h), slot) for sx in (-1, 1) for sy in (-1, 1)]


def build_chair(rng: np.random.Generator) -> Furniture:
    w = rng.uniform(0.44, 0.52)
    seat, back = 0.46, rng.uniform(0.4, 0.5)
    parts = _legs(w, w, seat - 0.05) + [
        _box((0, 0, seat - 0.025), (w, w, 0.05), 0),
        _box((0, -w / 2 + 0.03, seat + back / 2), (w, 0.06, back), 0),
    ]
    return Furniture("chair", parts, (w, w, seat + back), "floor")


def build_sofa(rng: np.random.Generator) -> Furniture:
    w, d = rng.uniform(1.6, 2.0), rng.uniform(0.8, 0.9)
    arm = 0.18
    parts = [
        _box((0, 0.05, 0.2), (w - 2 * arm, d - 0.1, 0.4), 1),
        _box((0, 0.08, 0.46), (w - 2 * arm, d - 0.3, 0.12), 0),
        _box((0, -d / 2 + 0.12, 0.43), (w, 0.24, 0.86), 0),
        _box((-w / 2 + arm / 2, 0, 0.3), (arm, d, 0.6), 0),
        _box((w / 2 - arm / 2, 0, 0.3), (arm, d, 0.6), 0),
    ]
    return Furniture("sofa", parts, (w, d, 0.86), "wall")


def build_bed(rng: np.random.Generator) -> Furniture:
    w, d = rng.uniform(1.3, 1.6), rng.uniform(1.9, 2.05)
    parts = [
        _box((0, 0, 0.15), (w, d, 0.3), 1),
        _box((0, 0.02, 0.41), (w - 0.06, d - 0.1, 0.22), 0),
        _box((0, -d / 2 + 0.04, 0.5), (w, 0.08, 1.0), 1),
        _box((0, -d / 2 + 0.3, 0.58), (w * 0.7, 0.35, 0.12), 2),
    ]
    return Furniture("bed", parts, (w, d, 1.0), "wall")


def build_table(rng: np.random.Generator) -> Furniture:
    w, d, h = rng.uniform(1.0, 1.4), rng.uniform(0.7, 0.9), 0.75
    parts = _legs(w - 0.1, d - 0.1, h - 0.05) + [_box((0, 0, h - 0.025), (w, d, 0.05), 0)]
    return Furniture("table", parts, (w, d, h), "floor", supports=[(h, 2.0)])


def build_cabinet(rng: np.random.Generator) -> Furniture:
    w, d, h = rng.uniform(0.7, 1.0), 0.45, rng.uniform(0.75, 0.95)
    n = int(rng.integers(2, 4))
    parts = [_box((0, 0, h / 2), (w, d, h), 0)]
    dh = (h - 0.1) / n
    for i in range(n):
        z = 0.05 + dh * (i + 0.5)
        parts.append(_box((0, d / 2 + 0.01, z), (w - 0.08, 0.02, dh - 0.04), 1))
        parts.append(_box((0, d / 2 + 0.035, z + dh * 0.25), (0.16, 0.03, 0.03), 2))
    return Furniture("cabinet", parts, (w, d + 0.05, h), "wall", supports=[(h, 2.0)])


def build_shelves(rng: np.random.Generator) -> Furniture:
    w, d, h = rng.uniform(0.8, 1.0), 0.35, rng.uniform(1.6, 1.9)
    n = 4
    t = 0.03
    parts = [
        _box((-w / 2 + t / 2, 0, h / 2), (t, d, h), 1),
        _box((w / 2 - t / 2, 0, h / 2), (t, d, h), 1),
        _box((0, -d / 2 + 0.01, h / 2), (w, 0.02, h), 1),
    ]
    gap = (h - t) / n
    supports = []
    for i in range(n + 1):
        z = i * gap + t / 2
        parts.append(_box((0, 0, z), (w - 2 * t, d, t), 0))
        if i < n:
            supports.append((z + t / 2, gap - t - 0.02))
    return Furniture("shelves", parts, (w, d, h), "wall", supports=supports)


def build_counter(rng: np.random.Generator) -> Furniture:
    w, d, h = rng.uniform(1.4, 2.0), 0.6, 0.9
    parts = [
        _box((0, -0.02, (h - 0.04) / 2), (w - 0.04, d - 0.04, h - 0.04), 1),
        _box((0, 0, h - 0.02), (w, d, 0.04), 0),
    ]
    return Furniture("counter", parts, (w, d, h), "wall", supports=[(h, 2.0)])


def build_refrigerator(rng: np.random.Generator) -> Furniture:
    w, d, h = rng.uniform(0.6, 0.75), 0.7, rng.uniform(1.7, 1.85)
    parts = [
        _box((0, 0, h / 2), (w, d, h), 0),
        _box((0, d / 2 + 0.005, h * 0.62), (w - 0.02, 0.01, 0.02), 1),
        _box((-w / 2 + 0.08, d / 2 + 0.025, h * 0.8), (0.03, 0.04, 0.35), 2),
        _box((-w / 2 + 0.08, d / 2 + 0.025, h * 0.4), (0.03, 0.04, 0.3), 2),
    ]
    return Furniture("refrigerator", parts, (w, d + 0.05, h), "wall")


def build_television(rng: np.random.Generator) -> Furniture:
    w, h = rng.uniform(0.8, 1.1), rng.uniform(0.5, 0.65)
    parts = [
        _box((0, -0.01, 0.03), (0.3, 0.2, 0.06), 1),
        _box((0, -0.01, 0.08), (0.06, 0.04, 0.1), 1),
        _box((0, 0, 0.12 + h / 2), (w, 0.05, h), 1),
        _box((0, 0.03, 0.12 + h / 2), (w - 0.06, 0.01, h - 0.06), 0),
    ]
    return Furniture("television", parts, (w, 0.2, h + 0.12), "on_top")


def build_door(rng: np.random.Generator) -> Furniture:
    w, h = rng.uniform(0.85, 0.95), 2.05
    parts = [_box((0, 0, h / 2), (w, 0.05, h), 0), _box((w / 2 - 0.1, 0.045, 1.0), (0.12, 0.04, 0.03), 1)]
    return Furniture("door", parts, (w, 0.07, h), "mounted")


def build_window(rng: np.random.Generator) -> Furniture:
    w, h, f = rng.uniform(1.0, 1.4), rng.uniform(1.0, 1.2), 0.06
    parts = [
        _box((0, 0, h / 2), (w - 2 * f, 0.02, h - 2 * f), 0),
        _box((0, 0.02, f / 2), (w, 0.06, f), 1),
        _box((0, 0.02, h - f / 2), (w, 0.06, f), 1),
        _box((-w / 2 + f / 2, 0.02, h / 2), (f, 0.06, h), 1),
        _box((w / 2 - f / 2, 0.02, h / 2), (f, 0.06, h), 1),
        _box((0, 0.02, h / 2), (0.04, 0.05, h), 1),
    ]
    return Furniture("window", parts, (w, 0.08, h), "mounted", elevation=0.9)


def build_curtain(rng: np.random.Generator) -> Furniture:
    w, h = rng.uniform(0.45, 0.7), 2.1
    folds = 5
    parts = [
        _box((-w / 2 + (i + 0.5) * w / folds, 0.04 if i % 2 else 0.02, h / 2), (w / folds, 0.04, h), 0)
        for i in range(folds)
    ]
    return Furniture("curtain", parts, (w, 0.08, h), "mounted", elevation=0.35)


def build_bag(rng: np.random.Generator) -> Furniture:
    w, d, h = rng.uniform(0.32, 0.42), rng.uniform(0.18, 0.25), rng.uniform(0.3, 0.42)
    parts = [
        _box((0, 0, h / 2), (w, d, h), 0),
        _box((0, d / 2 + 0.01, h * 0.4), (w * 0.7, 0.03, h * 0.45), 1),
        _box((0, 0, h + 0.06), (w * 0.5, 0.03, 0.12), 2),
    ]
    return Furniture("bag", parts, (w, d + 0.03, h + 0.12), "floor")


def build_lamp(rng: np.random.Generator) -> Furniture:
    h = rng.uniform(1.3, 1.6)
    parts = [
        _cyl((0, 0, 0.015), 0.16, 0.03, 1),
        _cyl((0, 0, h / 2), 0.018, h, 1),
        _cyl((0, 0, h + 0.12), 0.2, 0.3, 0),
    ]
    return Furniture("lamp", parts, (0.4, 0.4, h + 0.27), "floor")


def build_sink(rng: np.random.Generator) -> Furniture:
    w = rng.uniform(0.5, 0.6)
    parts = [
        _box((0, -0.05, 0.38), (0.2, 0.2, 0.76), 1),
        _box((0, 0, 0.83), (w, 0.45, 0.14), 0),
        _box((0, -0.17, 0.95), (0.05, 0.05, 0.12), 2),
    ]
    return Furniture("sink", parts, (w, 0.45, 1.01), "wall")


def build_toilet(rng: np.random.Generator) -> Furniture:
    parts = [
        _box((0, 0.05, 0.2), (0.38, 0.5, 0.4), 0),
        _box((0, 0.07, 0.42), (0.4, 0.5, 0.04), 1),
        _box((0, -0.18, 0.6), (0.46, 0.2, 0.4), 0),
    ]
    return Furniture("toilet", parts, (0.46, 0.7, 0.8), "wall")


def build_otherprop(rng: np.random.Generator) -> Furniture:
    w, d, h = rng.uniform(0.15, 0.45), rng.uniform(0.15, 0.4), rng.uniform(0.12, 0.5)
    if rng.random() < 0.4:
        r = min(w, d) / 2
        return Furniture("otherprop", [_cyl((0, 0, h / 2), r, h, 0)], (2 * r, 2 * r, h), "floor")
    return Furniture("otherprop", [_box((0, 0, h / 2), (w, d, h), 0)], (w, d, h), "floor")


def build_person(rng: np.random.Generator) -> Furniture:
    h = rng.uniform(1.6, 1.8)
    leg = h * 0.47
    parts = [
        _box((-0.1, 0, leg / 2), (0.14, 0.16, leg), 1),
        _box((0.1, 0, leg / 2), (0.14, 0.16, leg), 1),
        _box((0, 0, leg + h * 0.16), (0.42, 0.22, h * 0.32), 0),
        _box((-0.26, 0, leg + h * 0.15), (0.09, 0.1, h * 0.3), 0),
        _box((0.26, 0, leg + h * 0.15), (0.09, 0.1, h * 0.3), 0),
        _box((0, 0, h - 0.11), (0.18, 0.2, 0.22), 2),
    ]
    return Furniture("person", parts, (0.62, 0.22, h), "floor")


BUILDERS: dict[str, Callable[[np.random.Generator], Furniture]] = {
    "chair": build_chair, "sofa": build_sofa, "bed": build_bed, "table": build_table,
    "cabinet": build_cabinet, "shelves": build_shelves, "counter": build_counter,
    "refrigerator": build_refrigerator, "television": build_television, "door": build_door,
    "window": build_window, "curtain": build_curtain, "bag": build_bag, "lamp": build_lamp,
    "sink": build_sink, "toilet": build_toilet, "otherprop": build_otherprop, "person": build_person,
}  # fmt: skip
"""Class name -> builder. Walls, floor and ceiling are made by the layout."""
