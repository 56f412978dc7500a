"""Training into a run folder: a new run or a resumed one, with checkpoints and a writer lock.

- A new run validates the scene, then writes run.json (config, class set, normalisation, image size, the
  scene's fingerprint) before the first step, and a checkpoint every ``checkpoint_every`` steps.
- ``resume`` continues from the latest checkpoint with the run's own configuration and normalisation
  (also when the run was killed before its first checkpoint: then it starts over from run.json's
  configuration, never the command line's). A scene that is not the one in run.json is refused; the same
  scene at another place (moved) is accepted, and run.json is updated to its new place. Every file read
  is checked (:mod:`panolift.runs.validate`): run.json, latest.json, the checkpoint, then the optimizer
  and random state once loaded.
- One writer at a time: RUN/.lock is held (flock) while training; the operating system releases it when
  the process ends, however it ends. Temporary files of a killed checkpoint write are removed on start.
"""

from __future__ import annotations

import dataclasses
import fcntl
import logging
import os
from pathlib import Path

import torch

from panolift.config import LiftConfig, fast_config
from panolift.lift import ProgressFn, Trainer
from panolift.lift.threads import ThreadTuner
from panolift.scene import Scene, SceneError, fit_size

from .checkpoints import (
    checkpoint_dir,
    checkpoint_files,
    latest_checkpoint,
    read_checkpoint,
    remove_stale_temporaries,
    write_checkpoint,
)
from .folder import RUN_FILE, RunInfo, is_edited_run, read_run_info, scene_fingerprint, write_run_info
from .validate import check_config, check_optimizer_state

log = logging.getLogger(__name__)

LOCK_FILE = ".lock"


def acquire_run_lock(run_dir: Path) -> int:
    """An exclusive, non-blocking flock on RUN/.lock; returns its file descriptor (close it to release)."""
    lock = run_dir / LOCK_FILE
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SceneError(f"{run_dir}: cannot make the run folder ({exc.strerror or exc})") from None
    if os.path.lexists(lock) and not os.path.isfile(lock):
        raise SceneError(f"{lock}: not a regular file (the run's writer lock); remove it")
    try:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
    except OSError as exc:
        raise SceneError(f"{lock}: cannot open the run's writer lock ({exc.strerror or exc})") from None
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
    if scene.class_set != info.class_set:
        raise SceneError(
            f"{run_dir}: was trained on {info.class_set.num_classes} classes (run.json), the scene "
            f"{scene.root} has {scene.class_set.num_classes} now (segmentation_data); resume with the "
            "run's own scene or train into another --out"
        )
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
        if config is not None and not resume:
            check_config(config)  # an option out of range, before any work
        native = Scene(scene_path)  # the scene first: a malformed one is reported before anything is written
        native.validate()  # every frame's headers, poses, splits, class set
        native.validate(deep=True, frames=native.train_frames)  # and the values of what training reads
        if not native.has_machine_labels:
            raise SceneError(f"{native.root}: no 2D labels (m2f_semantics/); run `panolift segment` first")
        self._check_folder(resume)
        self._lock = acquire_run_lock(self.run_dir)
        try:
            started = self._check_folder(resume)  # again under the lock: a writer may have finished meanwhile
            remove_stale_temporaries(self.run_dir)
            self.trainer = self._open(native, config or fast_config(), device, started)
        except BaseException:
            self.close()
            raise

    def _check_folder(self, resume: bool) -> bool:
        """Whether a run was started in the folder (run.json or checkpoints); refuses what cannot be
        trained into."""
        if os.path.lexists(self.run_dir) and not self.run_dir.is_dir():
            raise SceneError(f"{self.run_dir}: not a folder (--out names the run folder to write)")
        if is_edited_run(self.run_dir):
            raise SceneError(
                f"{self.run_dir}: an edited run (edits.json); it has no training of its own: train or resume "
                "its source run"
            )
        started = os.path.lexists(self.run_dir / RUN_FILE) or bool(checkpoint_files(self.run_dir))
        if started and not resume:
            raise SceneError(
                f"{self.run_dir}: a run is already there; pass --resume to continue it, or another --out"
            )
        return started

    def _open(self, native: Scene, config: LiftConfig, device, started: bool) -> Trainer:
        if not started:
            check_config(config)
            size = fit_size(native.native_size, width=config.train.image_width)
            scene = Scene(self.scene_path, size=size)
            normalization = scene.normalization(config.train.max_depth)
            trainer = Trainer(scene, normalization, config, device)
            if config.train.orient_world:
                trainer.orient_world()
            write_run_info(
                self.run_dir,
                RunInfo(
                    self.scene_path,
                    config,
                    scene.class_set,
                    trainer.normalization,
                    scene.size,
                    scene_fingerprint(native),
                ),
            )
            return trainer
        info = read_run_info(self.run_dir)
        check_same_scene(info, native, self.run_dir)
        if info.fingerprint and info.scene_path.resolve() != self.scene_path.resolve():  # moved: note where
            log.info(
                "%s: the scene is now at %s (was %s)",
                self.run_dir / RUN_FILE,
                self.scene_path,
                info.scene_path,
            )
            write_run_info(self.run_dir, dataclasses.replace(info, scene_path=self.scene_path))
        checkpoint = latest_checkpoint(self.run_dir)
        num_classes = info.class_set.num_classes
        meta, tensors = read_checkpoint(checkpoint, num_classes=num_classes) if checkpoint else ({}, {})
        own = LiftConfig.from_dict(meta["config"]) if meta else info.config
        scene = Scene(self.scene_path, size=info.image_size)
        trainer = Trainer(scene, info.normalization, own, device)
        if meta:
            check_resumable(checkpoint, meta, tensors, trainer)
            try:
                trainer.load_state(meta, tensors)
                trainer.data.load_state(meta.get("batching", {}))  # a streamed working set as it was
            except (KeyError, IndexError, TypeError, ValueError, RuntimeError) as exc:
                raise SceneError(
                    f"{checkpoint}: cannot resume from this checkpoint ({type(exc).__name__}: {exc})"
                ) from exc
            check_optimizer_state(checkpoint, trainer.optimizers)
            log.info("resuming %s at step %d", self.run_dir, trainer.step)
        else:
            log.info(
                "resuming %s from the start (no checkpoint yet), with run.json's configuration", self.run_dir
            )
        ignored = differing_fields(own, config)
        if ignored:
            log.warning(
                "resuming %s with its own configuration; ignored: %s", self.run_dir, ", ".join(ignored)
            )
        return trainer

    def checkpoint(self, trainer: Trainer) -> Path:
        meta, tensors = trainer.state()
        meta["batching"] = trainer.data.state()  # where a streamed working set is (empty in memory)
        return write_checkpoint(self.run_dir, meta, tensors, keep=trainer.config.train.keep_checkpoints)

    def run(
        self, progress: ProgressFn | None = None, stop_at: int | None = None, tuner: ThreadTuner | None = None
    ) -> Path:
        """Train to the end (or ``stop_at``), checkpointing; returns the run folder. ``tuner`` picks the CPU
        thread count as it goes (:mod:`panolift.lift.threads`)."""
        self.trainer.run(progress, stop_at=stop_at, checkpoint=self.checkpoint, tuner=tuner)
        return self.run_dir

    def close(self) -> None:
        if getattr(self, "_lock", None) is not None:
            os.close(self._lock)
            self._lock = None

    def __enter__(self) -> TrainingRun:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def check_resumable(path: Path, meta: dict, tensors: dict, trainer: Trainer) -> None:
    """What the trainer's own loading does not check: a saved state for each of its optimizers, and a
    random state that fits its batch generator (device and size)."""
    missing = sorted(set(trainer.optimizers) - set(meta.get("optimizers", {})))
    if missing:
        raise SceneError(f"{path}: no state of optimizer '{missing[0]}' in the checkpoint's metadata")
    device = meta.get("rng_device", "cpu")
    try:
        saved = torch.device(device).type
    except (RuntimeError, TypeError, ValueError):
        raise SceneError(f"{path}: checkpoint 'rng_device' {device!r} is not a device") from None
    here = trainer.generator.device.type
    if saved != here:
        raise SceneError(
            f"{path}: the run was trained on {saved}; its random state does not carry over to {here} "
            f"(resume with --device {saved}, or train anew into another --out)"
        )
    state = tensors.get("rng.torch")
    size = trainer.generator.get_state().numel()
    if state is None or state.numel() != size:
        got = "missing" if state is None else f"{state.numel()} bytes"
        raise SceneError(f"{path}: checkpoint tensor rng.torch is {got}; a {here} random state has {size}")


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
