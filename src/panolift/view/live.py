"""Live viewing while training: the viewer shows snapshots of the field that a :class:`TrainingRun` is
fitting, taken between training steps every few seconds.

Training calls :meth:`LiveViewer.update` from its progress callback (between two steps, in the training
thread): when a browser is connected and ``refresh_seconds`` have passed, the field is copied (without its
gradients) and handed to the viewer, whose renderer threads draw it at low resolution within a small busy
budget (:attr:`~.progressive.ProgressiveConfig.max_busy_fraction`), so that training keeps nearly all
of the machine. The training field itself is never read outside the training thread. The view is
read-only: instances are found on demand and edits wait for the finished run (`panolift view RUN`).
"""

from __future__ import annotations

import copy
import logging
import time

import numpy as np
import torch
from torch import nn

from panolift.edit import EditList, estimate_up_axis
from panolift.runs import LoadedRun, TrainingRun

from .progressive import ProgressiveConfig
from .server import Viewer, ViewerConfig
from .session import ViewerSession

log = logging.getLogger(__name__)


def snapshot_field(field: nn.Module) -> nn.Module:
    """A detached copy of ``field`` in eval mode (parameters without gradients), attributes included."""
    grads = {name: p.grad for name, p in field.named_parameters()}
    for p in field.parameters():
        p.grad = None
    try:
        with torch.no_grad():
            copied = copy.deepcopy(field)
    finally:
        for name, p in field.named_parameters():
            p.grad = grads[name]
    for p in copied.parameters():
        p.requires_grad_(False)
    return copied.eval()


def loaded_of_training(training: TrainingRun, field: nn.Module) -> LoadedRun:
    """The run being trained as a :class:`~panolift.runs.LoadedRun` whose field is ``field``."""
    trainer = training.trainer
    return LoadedRun(
        run_dir=training.run_dir, field=field, config=trainer.config, scene_path=training.scene_path,
        class_set=trainer.scene.class_set, normalization=trainer.normalization, step=trainer.step,
        image_size=tuple(trainer.scene.size),
    )  # fmt: skip


def live_viewer_config(host: str, port: int) -> ViewerConfig:
    """Small images within a 5% busy budget: training keeps the machine."""
    config = ViewerConfig(host=host, port=port, layer_resolution=64)
    config.progressive = ProgressiveConfig(max_side=320, max_busy_fraction=0.05, first_image_seconds=0.15)
    return config


class LiveViewer:
    """A :class:`~.server.Viewer` on a field being trained; call :meth:`update` between steps."""

    def __init__(self, training: TrainingRun, config: ViewerConfig, refresh_seconds: float = 3.0):
        self.training, self.refresh_seconds = training, refresh_seconds
        loaded = loaded_of_training(training, snapshot_field(training.trainer.field))
        up = estimate_up_axis(np.asarray(training.trainer.scene.poses))
        edit_list = EditList(source_run="", up=tuple(float(v) for v in up))
        session = ViewerSession(
            training.run_dir, loaded, edit_list, editable=False, device=training.trainer.device
        )
        self.viewer = Viewer(session, config)
        self.last_update = time.monotonic()
        self.snapshots, self.snapshot_seconds = 0, 0.0

    @property
    def url(self) -> str:
        return self.viewer.url

    def update(self, force: bool = False) -> bool:
        """Show the current field if a browser is connected and ``refresh_seconds`` have passed (or
        ``force``); call it between training steps. True when a snapshot was taken."""
        now = time.monotonic()
        if not force and (not self.viewer.clients or now - self.last_update < self.refresh_seconds):
            return False
        started = time.perf_counter()
        loaded = loaded_of_training(self.training, snapshot_field(self.training.trainer.field))
        self.viewer.session.reload(loaded, remeasure=False)
        self.snapshot_seconds += time.perf_counter() - started
        self.snapshots += 1
        self.last_update = now
        self.viewer.field_changed()
        return True

    def refresh_layer(self) -> None:
        """Extract the 3D layer of the current snapshot (in a worker thread)."""
        self.viewer.spawn(self.viewer.update_layer)

    def close(self) -> None:
        self.viewer.close()
