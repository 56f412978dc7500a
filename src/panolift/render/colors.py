"""Colours for label maps: a class palette, panoptic-id colours, overlays and depth maps."""

from __future__ import annotations

import colorsys

import numpy as np

GOLDEN = 0.618033988749895


def color_of_index(index: int, saturation: float = 0.65, value: float = 0.95) -> tuple[int, int, int]:
    """A distinct colour per integer (golden-ratio hue walk); index 0 is black."""
    if index == 0:
        return (0, 0, 0)
    r, g, b = colorsys.hsv_to_rgb((index * GOLDEN) % 1.0, saturation, value)
    return (int(r * 255), int(g * 255), int(b * 255))


def class_palette(num_classes: int) -> np.ndarray:
    """(num_classes, 3) uint8 colours, void black."""
    return np.array([color_of_index(k) for k in range(num_classes)], dtype=np.uint8)


def colorize_semantics(semantics: np.ndarray, num_classes: int) -> np.ndarray:
    """(H, W) class ids -> (H, W, 3) uint8."""
    return class_palette(num_classes)[np.clip(semantics, 0, num_classes - 1)]


def colorize_panoptic(semantics: np.ndarray, instance: np.ndarray, num_classes: int) -> np.ndarray:
    """Stuff pixels take their class colour; each thing instance its own colour (by id)."""
    out = colorize_semantics(semantics, num_classes)
    ids = np.unique(instance[instance > 0])
    for i in ids:
        out[instance == i] = color_of_index(int(i) * 7 + 3, saturation=0.9, value=1.0)
    return out


def overlay(rgb: np.ndarray, colors: np.ndarray, alpha: float = 0.55) -> np.ndarray:
    """Blend (H, W, 3) uint8 label colours over (H, W, 3) float rgb in [0, 1]: (1 - a) rgb + a colours."""
    base = np.clip(rgb, 0.0, 1.0) * 255.0
    return np.round((1.0 - alpha) * base + alpha * colors.astype(np.float32)).astype(np.uint8)


def depth_to_uint16(depth: np.ndarray) -> np.ndarray:
    """(H, W) metres -> uint16 millimetres (the scene format's depth encoding), clipped to 65.535 m."""
    return np.clip(np.round(depth * 1000.0), 0, 65535).astype(np.uint16)
