"""Procedural textures and shading: value noise against a slow reference, ranges, Lambert shading and
glossy highlights."""

from __future__ import annotations

import numpy as np
import pytest

from panolift.synth.config import AppearanceConfig
from panolift.synth.labels import touching_pairs
from panolift.synth.shading import (
    GLOSSY,
    PATTERNS,
    evaluate_pattern,
    fresnel_schlick,
    hash_lattice,
    make_material,
    restyle_materials,
    shade_points,
    stack_materials,
    value_noise,
)


def slow_value_noise(p: np.ndarray, seed: int) -> float:
    """Trilinear interpolation, with smoothstep weights, of the lattice values around one point."""
    base = np.floor(p).astype(np.int64)
    f = p - base
    s = f * f * (3 - 2 * f)
    total = 0.0
    for corner in np.ndindex(2, 2, 2):
        c = base + np.array(corner)
        h = hash_lattice(c[:1], c[1:2], c[2:3], np.array([seed]))[0]
        w = np.prod([s[k] if corner[k] else 1 - s[k] for k in range(3)])
        total += w * h
    return total


def test_value_noise_matches_slow_reference_and_lattice():
    rng = np.random.default_rng(0)
    pts = rng.uniform(-5, 5, size=(50, 3))
    seeds = rng.integers(0, 1000, size=50)
    fast = value_noise(pts, seeds)
    slow = [slow_value_noise(p, s) for p, s in zip(pts, seeds, strict=True)]
    np.testing.assert_allclose(fast, slow, atol=1e-12)
    ints = rng.integers(-9, 9, size=(20, 3)).astype(np.float64)
    lattice = hash_lattice(*(ints.astype(np.int64).T), np.full(20, 3))
    np.testing.assert_allclose(value_noise(ints, np.full(20, 3)), lattice, atol=1e-12)
    assert 0.0 <= fast.min() and fast.max() < 1.0
    # continuity: a tiny step changes the value a little
    assert np.abs(value_noise(pts + 1e-4, seeds) - fast).max() < 1e-2


def test_patterns_and_shading_ranges():
    rng = np.random.default_rng(1)
    mats = [
        make_material(name, slot, rng) for name in ("wall", "floor", "sofa", "curtain") for slot in (0, 1, 2)
    ]
    for i in range(len(PATTERNS)):  # make sure every pattern is exercised
        mats[i]["pattern"] = i
    table = stack_materials(mats)
    n = 4000
    pts = rng.uniform(0, 4, size=(n, 3))
    mat = rng.integers(0, len(mats), size=n)
    value = evaluate_pattern(pts, mat, table)
    assert value.min() >= 0.0 and value.max() <= 1.0
    for i in range(len(PATTERNS)):
        assert value[mat == i].std() > 0.05  # every pattern varies over space
    up = np.tile([0.0, 0.0, 1.0], (n, 1))
    lights = np.array([[2.0, 2.0, 10.0]])
    lit = shade_points(pts, up, mat, table, lights)
    dark = shade_points(pts, -up, mat, table, lights)  # facing away from the light: ambient only
    assert lit.shape == (n, 3) and 0.0 <= lit.min() and lit.max() <= 1.0
    assert np.all(lit >= dark - 1e-12) and lit.mean() > dark.mean() + 0.02


def _floor_under_a_lamp(specular: float, shininess: float = 20.0):
    """A glossy floor patch at the origin facing up, lit by a lamp 2 m above x = -1."""
    material = make_material("floor", 0, np.random.default_rng(3))
    material.update(specular=specular, shininess=shininess)
    table = stack_materials([material])
    return (
        np.zeros((1, 3)),
        np.array([[0.0, 0.0, 1.0]]),
        np.zeros(1, dtype=np.int64),
        table,
        np.array([[-1.0, 0.0, 2.0]]),
    )


def _towards(*direction: float) -> np.ndarray:
    v = np.asarray(direction, dtype=np.float64)[None]
    return v / np.linalg.norm(v)


def test_a_glossy_highlight_peaks_in_the_mirror_direction_and_moves_with_the_view():
    point, up, material, table, lamp = _floor_under_a_lamp(specular=0.5)
    matte = shade_points(point, up, material, table, lamp)
    mirror = shade_points(point, up, material, table, lamp, to_camera=_towards(1.0, 0.0, 2.0))
    aside = shade_points(point, up, material, table, lamp, to_camera=_towards(-1.0, 0.0, 0.3))
    # in the mirror direction n.h = 1: the full highlight, white, on top of the diffuse colour
    intensity = 1.4 * (1.0 - 0.35) / (1.0 + 0.1 * 5.0)
    np.testing.assert_allclose(mirror - matte, np.full((1, 3), 0.5 * intensity), atol=1e-9)
    assert 0.0 < (aside - matte).max() < 0.05 * (mirror - matte).max()  # far from the mirror: little
    # a shadowed lamp and a lamp behind the surface give none; so does a matte material from any view
    shadowed = shade_points(
        point, up, material, table, lamp, visible=np.zeros((1, 1), bool), to_camera=_towards(1.0, 0.0, 2.0)
    )
    np.testing.assert_allclose(
        shadowed, shade_points(point, up, material, table, lamp, np.zeros((1, 1), bool))
    )
    below = shade_points(point, -up, material, table, lamp, to_camera=_towards(1.0, 0.0, -2.0))
    np.testing.assert_allclose(below, shade_points(point, -up, material, table, lamp))
    point, up, material, dull, lamp = _floor_under_a_lamp(specular=0.0)
    np.testing.assert_array_equal(
        shade_points(point, up, material, dull, lamp, to_camera=_towards(1.0, 0.0, 2.0)),
        shade_points(point, up, material, dull, lamp),
    )


def test_a_higher_shininess_gives_a_tighter_highlight():
    off_mirror = _towards(1.0, 0.0, 0.5)
    spread = {}
    for shininess in (4.0, 40.0):
        point, up, material, table, lamp = _floor_under_a_lamp(specular=0.5, shininess=shininess)
        base = shade_points(point, up, material, table, lamp)
        spread[shininess] = (
            shade_points(point, up, material, table, lamp, to_camera=off_mirror) - base
        ).max()
    assert spread[4.0] > 3.0 * spread[40.0] > 0.0


def test_gloss_turns_only_the_main_surface_of_glossy_classes_and_keeps_a_matte_rooms_draws():
    kinds = [("floor", 0), ("floor", 1), ("wall", 0), ("television", 0), ("sofa", 0), ("table", 0)]
    drawn = [make_material(name, slot, np.random.default_rng(i)) for i, (name, slot) in enumerate(kinds)]
    matte = [dict(m) for m in drawn]
    glossy = [dict(m) for m in drawn]
    restyle_materials(matte, kinds, AppearanceConfig(wood_grain=0.5), np.random.default_rng(9))
    restyle_materials(glossy, kinds, AppearanceConfig(wood_grain=0.5, gloss=0.8), np.random.default_rng(9))
    for m, g, (name, slot) in zip(matte, glossy, kinds, strict=True):
        assert m["specular"] == 0.0
        assert {k: v for k, v in m.items() if k not in ("specular", "shininess")} == {
            k: v for k, v in g.items() if k not in ("specular", "shininess")
        }  # the matte draws come first and are the same
        if slot == 0 and name in GLOSSY:
            assert 0.4 <= g["specular"] <= 0.8 and 4.0 <= g["shininess"] <= 40.0
        else:
            assert g["specular"] == 0.0
    with pytest.raises(ValueError, match="gloss"):
        AppearanceConfig(gloss=-0.1)


def test_fresnel_share_rises_from_f0_to_one_at_grazing_angles_and_is_zero_for_matte():
    f0 = np.array([0.05, 0.05, 0.05, 0.0])
    share = fresnel_schlick(f0, np.array([1.0, 0.5, 0.0, 0.1]))
    np.testing.assert_allclose(share[:3], [0.05, 0.05 + 0.95 / 32, 1.0])
    assert share[3] == 0.0


def test_reflection_coats_the_glossy_surfaces_after_every_other_draw():
    kinds = [("floor", 0), ("wall", 0), ("window", 0), ("floor", 1)]
    drawn = [make_material(name, slot, np.random.default_rng(i)) for i, (name, slot) in enumerate(kinds)]
    glossy, coated = [dict(m) for m in drawn], [dict(m) for m in drawn]
    restyle_materials(glossy, kinds, AppearanceConfig(gloss=0.8), np.random.default_rng(5))
    restyle_materials(coated, kinds, AppearanceConfig(gloss=0.8, reflection=0.1), np.random.default_rng(5))
    for g, c, (name, slot) in zip(glossy, coated, kinds, strict=True):
        assert {k: v for k, v in g.items() if k != "reflect"} == {
            k: v for k, v in c.items() if k != "reflect"
        }
        assert g["reflect"] == 0.0
        assert (0.05 <= c["reflect"] <= 0.1) if slot == 0 and name in GLOSSY else c["reflect"] == 0.0
    with pytest.raises(ValueError, match="reflection"):
        AppearanceConfig(reflection=1.5)


def test_touching_pairs_matches_slow_reference():
    rng = np.random.default_rng(2)
    seg = rng.integers(0, 5, size=(12, 15))
    expected = set()
    for y in range(12):
        for x in range(15):
            for dy, dx in ((0, 1), (1, 0)):
                if y + dy < 12 and x + dx < 15:
                    a, b = seg[y, x], seg[y + dy, x + dx]
                    if a != b and a > 0 and b > 0:
                        expected.add((min(a, b), max(a, b)))
    assert {tuple(p) for p in touching_pairs(seg).tolist()} == expected
