"""Procedural textures and shading: value noise against a slow reference, ranges, Lambert shading."""

from __future__ import annotations

import numpy as np

from panolift.synth.labels import touching_pairs
from panolift.synth.shading import (
    PATTERNS,
    evaluate_pattern,
    hash_lattice,
    make_material,
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
