"""Lifting: losses, linear assignment, R_S / R_I batches, schedules, the trainer and its state."""

from .losses import (
    assign_instances,
    compute_consistency_loss,
    compute_instance_loss,
    compute_psnr,
    compute_rgb_loss,
    compute_semantic_loss,
)
from .state import field_from_tensors
from .trainer import CheckpointFn, ProgressFn, Trainer

__all__ = [
    "CheckpointFn",
    "ProgressFn",
    "Trainer",
    "assign_instances",
    "compute_consistency_loss",
    "compute_instance_loss",
    "compute_psnr",
    "compute_rgb_loss",
    "compute_semantic_loss",
    "field_from_tensors",
]
