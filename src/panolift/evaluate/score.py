"""Scoring a scene's test frames: prediction arrays (or the scene's machine labels) against ground truth."""

from __future__ import annotations

import numpy as np

PROTOCOLS = ("standard", "panoptic-lifting")


def score_labels(
    scene,
    semantics: dict[str, np.ndarray],
    instance: dict[str, np.ndarray],
    rgb: dict[str, np.ndarray] | None = None,
    protocol: str = "standard",
    frames: list[str] | None = None,
) -> dict:
    """Metrics of predicted labels on ``frames`` (default: the scene's test frames). Work in progress."""
    raise NotImplementedError("score_labels is being written (issue 4)")


def score_machine_labels(scene, protocol: str = "standard", frames: list[str] | None = None) -> dict:
    """Metrics of the scene's 2D machine labels (m2f_*) on ``frames``. Work in progress."""
    raise NotImplementedError("score_machine_labels is being written (issue 4)")
