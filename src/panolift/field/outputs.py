"""What a field returns at a batch of points: the renderer's only view of a field."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class FieldOutputs:
    """Per-point outputs of a panoptic radiance field ``field(points, dirs) -> FieldOutputs``.

    Editing wraps a field and returns modified FieldOutputs; the renderer never special-cases edits.
    """

    density: torch.Tensor  # (num_points,) sigma >= 0, in units of 1/(normalised length)
    rgb: torch.Tensor  # (num_points, 3) in [0, 1]
    semantics: torch.Tensor | None = None  # (num_points, num_classes) probabilities (logits if unbounded)
    instance: torch.Tensor | None = None  # (num_points, num_slots) probabilities (logits if unbounded)
