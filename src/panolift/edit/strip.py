"""The before/after picture strip of an edited run: the unedited field and the edited one, same view.

Layout (uint8, 2 rows x 2 columns, a 4-pixel white gutter)::

    rgb before        | rgb after
    panoptic before   | panoptic after        (panoptic colours over rgb, as in the overlays)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from panolift.edit.wrappers import FieldWrapper

GUTTER = 4


def unwrap_field(field: nn.Module) -> nn.Module:
    """The trained field under every edit wrapper."""
    while isinstance(field, FieldWrapper):
        field = field.field
    return field


def panoptic_picture(rendering: dict[str, torch.Tensor], class_set) -> tuple[np.ndarray, np.ndarray]:
    """(rgb uint8 (H, W, 3), panoptic overlay uint8 (H, W, 3)) of one rendering."""
    from panolift.render import panoptic_from_rendering
    from panolift.render.colors import colorize_panoptic, overlay

    semantics, instance = panoptic_from_rendering(rendering, class_set)
    rgb = rendering["rgb"].clamp(0, 1).cpu().numpy()
    pan = overlay(rgb, colorize_panoptic(semantics, instance, class_set.num_classes))
    return np.round(rgb * 255).astype(np.uint8), pan


def compose_strip(before: dict[str, torch.Tensor], after: dict[str, torch.Tensor], class_set) -> np.ndarray:
    """[rgb before | rgb after] over [panoptic before | panoptic after], separated by white gutters."""
    (rgb_b, pan_b), (rgb_a, pan_a) = panoptic_picture(before, class_set), panoptic_picture(after, class_set)
    h, w = rgb_b.shape[:2]
    out = np.full((2 * h + GUTTER, 2 * w + GUTTER, 3), 255, dtype=np.uint8)
    for (row, col), image in zip([(0, 0), (0, 1), (1, 0), (1, 1)], [rgb_b, rgb_a, pan_b, pan_a], strict=True):
        out[row * (h + GUTTER) : row * (h + GUTTER) + h, col * (w + GUTTER) : col * (w + GUTTER) + w] = image
    return out


def write_before_after(
    out: Path, name: str, field: nn.Module, after: dict[str, torch.Tensor], K, c2w, width: int, height: int,
    loaded, config,
) -> np.ndarray:  # fmt: skip
    """Render the unedited field at the same view and write OUT/before_after/<name>.png; returns it."""
    from panolift.render import render_image
    from panolift.scene.io import write_image

    before = render_image(
        unwrap_field(field), K, c2w, width, height, normalization=loaded.normalization, config=config
    )
    strip = compose_strip(before, after, loaded.class_set)
    write_image(Path(out) / "before_after" / f"{name}.png", strip)
    return strip
