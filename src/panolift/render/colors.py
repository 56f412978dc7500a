"""The one palette of every picture panolift draws (render overlays, edit strips, eval reports, viewers).

- Classes: 24 well separated colours (Kelly's list, roughly), then golden-ratio hues; void is black.
- Thing instances: a colour hashed from the key class * 65536 + id (Knuth's multiplicative hash -> hue,
  saturation, value), so one 3D instance has one colour in every view and every picture, and hundreds of
  instances stay distinguishable; outlines are darkened so that an instance stands out from stuff.
"""

from __future__ import annotations

import colorsys

import numpy as np

GOLDEN = 0.618033988749895
# fmt: off
_BASE_PALETTE = (
    "#e6194b", "#3cb44b", "#ffe119", "#4363d8", "#f58231", "#911eb4", "#46f0f0", "#f032e6", "#bcf60c",
    "#fabebe", "#008080", "#e6beff", "#9a6324", "#fffac8", "#800000", "#aaffc3", "#808000", "#ffd8b1",
    "#000075", "#808080", "#b15928", "#6a3d9a", "#1f78b4", "#33a02c",
)
# fmt: on


def class_palette(num_classes: int) -> np.ndarray:
    """(num_classes, 3) uint8 colours; index 0 (void) is black. The same class always gets the same colour."""
    colours = [(0, 0, 0)]
    for k in range(1, num_classes):
        if k - 1 < len(_BASE_PALETTE):
            hexa = _BASE_PALETTE[k - 1]
            colours.append(tuple(int(hexa[i : i + 2], 16) for i in (1, 3, 5)))
        else:
            rgb = colorsys.hsv_to_rgb((k * GOLDEN) % 1.0, 0.75, 0.9)
            colours.append(tuple(int(round(255 * c)) for c in rgb))
    return np.asarray(colours, dtype=np.uint8)


def instance_colors(keys: np.ndarray) -> np.ndarray:
    """(N, 3) uint8 colours hashed from (N,) int keys: h = key * 2654435761 mod 2^32 gives the hue
    (h mod 360), saturation (0.55 + 0.45 * (h >> 9 mod 100) / 100) and value (0.65 + 0.35 * ...)."""
    h = (np.asarray(keys, dtype=np.uint64) * np.uint64(2654435761)) % np.uint64(2**32)
    hue = (h % np.uint64(360)).astype(np.float64) / 360.0
    sat = 0.55 + 0.45 * ((h >> np.uint64(9)) % np.uint64(100)).astype(np.float64) / 100.0
    val = 0.65 + 0.35 * ((h >> np.uint64(17)) % np.uint64(100)).astype(np.float64) / 100.0
    i = np.floor(hue * 6).astype(np.int64) % 6
    f = hue * 6 - np.floor(hue * 6)
    p, q, t = val * (1 - sat), val * (1 - f * sat), val * (1 - (1 - f) * sat)
    rgb = np.select(
        [i[:, None] == j for j in range(6)],
        [
            np.stack(c, -1)
            for c in ((val, t, p), (q, val, p), (p, val, t), (p, q, val), (t, p, val), (val, p, q))
        ],
    )
    return np.round(rgb * 255).astype(np.uint8)


def instance_key(semantics: np.ndarray, instance: np.ndarray) -> np.ndarray:
    """The key that names a 3D instance across views: class * 65536 + id."""
    return np.asarray(semantics, dtype=np.int64) * 65536 + np.asarray(instance, dtype=np.int64)


def colorize_semantics(semantics: np.ndarray, num_classes: int) -> np.ndarray:
    """(H, W) class ids -> (H, W, 3) uint8."""
    return class_palette(num_classes)[np.clip(np.asarray(semantics, dtype=np.int64), 0, num_classes - 1)]


def colorize_panoptic(semantics: np.ndarray, instance: np.ndarray, num_classes: int, thing_ids) -> np.ndarray:
    """(H, W, 3) uint8: stuff pixels in their class colour, thing pixels in their instance's hashed colour,
    with each thing instance's outline darkened."""
    semantics = np.asarray(semantics, dtype=np.int64)
    out = colorize_semantics(semantics, num_classes)
    things = np.isin(semantics, np.asarray(list(thing_ids), dtype=np.int64))
    if things.any():
        out[things] = instance_colors(instance_key(semantics[things], np.asarray(instance)[things]))
    key = np.where(things, instance_key(semantics, instance), -semantics - 1)
    edge = np.zeros(key.shape, dtype=bool)
    edge[:, 1:] |= key[:, 1:] != key[:, :-1]
    edge[1:, :] |= key[1:, :] != key[:-1, :]
    edge &= things
    out[edge] = out[edge] // 2
    return out


def overlay(rgb: np.ndarray, colors: np.ndarray, alpha: float = 0.55) -> np.ndarray:
    """Blend (H, W, 3) uint8 label colours over (H, W, 3) float rgb in [0, 1]: (1 - a) rgb + a colours."""
    base = np.clip(rgb, 0.0, 1.0) * 255.0
    return np.round((1.0 - alpha) * base + alpha * colors.astype(np.float32)).astype(np.uint8)


def depth_to_uint16(depth: np.ndarray) -> np.ndarray:
    """(H, W) metres -> uint16 millimetres (the scene format's depth encoding), clipped to 65.535 m."""
    return np.clip(np.round(depth * 1000.0), 0, 65535).astype(np.uint16)
