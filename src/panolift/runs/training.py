"""Training into a run folder: a new run or a resumed one, with checkpoints and a writer lock.

- A new run validates the scene, then writes run.json (config, class set, normalisation, image size, the
  scene's fingerprint) before the first step, and a checkpoint every ``checkpoint_every`` steps.
- ``resume`` continues from the latest checkpoint with the run's own configuration and normalisation
  (also when the run was killed before its first checkpoint: then it starts over from run.json's
  configuration, never the command line's). A scene that is not the one in run.json is refused.
- One writer at a time: RUN/.lock is held (flock) while training; the operating system releases it when
  the process ends, however it ends. Temporary files of a killed checkpoint write are removed on start.
"""

from __future__ import annotations

import fcntl
import logging
import os
from pathlib import Path

import torch

from panolift.config import LiftConfig, fast_config
from panolift.lift import ProgressFn, Trainer
from panolift.scene import Scene, SceneError, fit_size

from .checkpoints import (
    checkpoint_dir,
    latest_checkpoint,
    read_checkpoint,
    remove_stale_temporaries,
    write_checkpoint,
)
from .folder import RUN_FILE, RunInfo, read_run_info, scene_fingerprint, write_run_info

log = logging.getLogger(__name__)

LOCK_FILE = ".lock"


def acquire_run_lock(run_dir: Path) -> int:
    """An exclusive, non-blocking flock on RUN/.lock; returns its file descriptor (close it to release)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(run_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        raise SceneError(
            f"{run_dir}: another `panolift train` is writing this run (lock {run_dir / LOCK_FILE}); "
            "wait for it to finish or pass another --out"
        ) from None
    return fd


def check_same_scene(info: RunInfo, scene: Scene, run_dir: Path) -> None:
    """Refuse to resume a run on another scene than the one it was trained on (names both)."""
    if not info.fingerprint:
        return  # written by an older panolift: nothing to compare with
    fingerprint = scene_fingerprint(scene)
    if fingerprint != info.fingerprint:
        changed = sorted(k for k in fingerprint if fingerprint.get(k) != info.fingerprint.get(k))
        raise SceneError(
            f"{run_dir}: was trained on {info.scene_path}, not on {scene.root} (they differ in "
            f"{', '.join(changed)}); resume with the run's own scene or train into another --out"
        )


class TrainingRun:
    """A run folder being trained: its :class:`~panolift.lift.Trainer`, lock and checkpoints.

    Use as a context manager (the lock is released on exit) or call :meth:`close`.
    """

    def __init__(
        self,
        scene_path: str | Path,
        run_dir: str | Path,
        config: LiftConfig | None = None,
        device: torch.device | str | None = None,
        resume: bool = False,
    ):
        self.run_dir, self.scene_path = Path(run_dir), Path(scene_path)
        native = Scene(scene_path)  # the scene first: a malformed one is reported before anything is written
        native.validate()  # every frame's headers, poses, splits, class set
        native.validate(deep=True, frames=native.train_frames)  # and the values of what training reads
        if not native.has_machine_labels:
            raise SceneError(f"{native.root}: no 2D labels (m2f_semantics/); run `panolift segment` first")
        started = (self.run_dir / RUN_FILE).exists() or latest_checkpoint(self.run_dir) is not None
        if started and not resume:
            raise SceneError(
                f"{self.run_dir}: a run is already there; pass --resume to continue it, or another --out"
            )
        self._lock = acquire_run_lock(self.run_dir)
        try:
            remove_stale_temporaries(self.run_dir)
            self.trainer = self._open(native, config or fast_config(), device, started)
        except BaseException:
            self.close()
            raise

    def _open(self, native: Scene, config: LiftConfig, device, started: bool) -> Trainer:
        if not started:
            size = fit_size(native.native_size, width=config.train.image_width)
            scene = Scene(self.scene_path, size=size)
            normalization = scene.normalization(config.train.max_depth)
            trainer = Trainer(scene, normalization, config, device)
            write_run_info(
                self.run_dir,
                RunInfo(
                    self.scene_path,
                    config,
                    scene.class_set,
                    normalization,
                    scene.size,
                    scene_fingerprint(native),
                ),
            )
            return trainer
        info = read_run_info(self.run_dir)
        check_same_scene(info, native, self.run_dir)
        checkpoint = latest_checkpoint(self.run_dir)
        meta, tensors = read_checkpoint(checkpoint) if checkpoint is not None else ({}, {})
        own = LiftConfig.from_dict(meta["config"]) if meta else info.config
        ignored = differing_fields(own, config)
        if ignored:
            log.warning(
                "resuming %s with its own configuration; ignored: %s", self.run_dir, ", ".join(ignored)
            )
        scene = Scene(self.scene_path, size=info.image_size)
        trainer = Trainer(scene, info.normalization, own, device)
        if meta:
            try:
                trainer.load_state(meta, tensors)
                trainer.data.load_state(meta.get("batching", {}))  # a streamed working set as it was
            except (KeyError, IndexError, TypeError, ValueError, RuntimeError) as exc:
                raise SceneError(
                    f"{checkpoint}: cannot resume from this checkpoint ({type(exc).__name__}: {exc})"
                ) from exc
            log.info("resuming %s at step %d", self.run_dir, trainer.step)
        else:
            log.info(
                "resuming %s from the start (no checkpoint yet), with run.json's configuration", self.run_dir
            )
        return trainer

    def checkpoint(self, trainer: Trainer) -> Path:
        meta, tensors = trainer.state()
        meta["batching"] = trainer.data.state()  # where a streamed working set is (empty in memory)
        return write_checkpoint(self.run_dir, meta, tensors, keep=trainer.config.train.keep_checkpoints)

    def run(self, progress: ProgressFn | None = None, stop_at: int | None = None) -> Path:
        """Train to the end (or ``stop_at``), checkpointing; returns the run folder."""
        self.trainer.run(progress, stop_at=stop_at, checkpoint=self.checkpoint)
        return self.run_dir

    def close(self) -> None:
        if getattr(self, "_lock", None) is not None:
            os.close(self._lock)
            self._lock = None

    def __enter__(self) -> TrainingRun:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def differing_fields(a: LiftConfig, b: LiftConfig) -> list[str]:
    """Dotted names of the config fields whose values differ (``preset`` aside)."""
    da, db = a.to_dict(), b.to_dict()
    return [
        f"{group}.{key}"
        for group in ("field", "render", "loss", "train")
        for key in da[group]
        if da[group][key] != db[group].get(key)
    ]


def train_run(
    scene_path: str | Path,
    out: str | Path,
    config: LiftConfig | None = None,
    device: torch.device | str | None = None,
    resume: bool = False,
    progress: ProgressFn | None = None,
) -> Path:
    """Train a run on ``scene_path`` into folder ``out`` (the ``fast`` preset by default); returns ``out``."""
    with TrainingRun(scene_path, out, config, device=device, resume=resume) as training:
        return training.run(progress)


__all__ = ["TrainingRun", "acquire_run_lock", "checkpoint_dir", "train_run"]
