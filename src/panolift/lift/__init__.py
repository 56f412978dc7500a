"""Lifting: losses, linear assignment, R_S / R_I batches, schedules, the trainer and checkpoints."""

from .checkpoint import LoadedRun, load_run
from .losses import (
    assign_instances,
    compute_consistency_loss,
    compute_instance_loss,
    compute_psnr,
    compute_rgb_loss,
    compute_semantic_loss,
)
from .trainer import Trainer, train_run

__all__ = [
    "LoadedRun",
    "Trainer",
    "assign_instances",
    "compute_consistency_loss",
    "compute_instance_loss",
    "compute_psnr",
    "compute_rgb_loss",
    "compute_semantic_loss",
    "load_run",
    "train_run",
]
