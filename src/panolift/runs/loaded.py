"""A trained run in memory (its field ready to render) and the rays of its training views."""

from __future__ import annotations

import dataclasses
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from panolift.config import LiftConfig
from panolift.edit import EDITS_FILE
from panolift.lift import field_from_tensors
from panolift.lift.cameras import FrameCameras
from panolift.lift.exposure import FrameExposure
from panolift.render import thing_mask_of
from panolift.scene import ClassSet, Scene, SceneError, SceneNormalization, generate_rays, scale_intrinsics

from .checkpoints import latest_checkpoint, read_checkpoint
from .folder import RUN_FILE, read_run_info, scene_fingerprint

log = logging.getLogger(__name__)


@dataclass
class LoadedRun:
    """A run, ready to render: its field (eval mode; wrapped by the edits of an edited run) and what
    describes it."""

    run_dir: Path
    field: nn.Module
    config: LiftConfig
    scene_path: Path
    class_set: ClassSet
    normalization: SceneNormalization
    step: int
    image_size: tuple[int, int]  # (width, height) the run was trained at
    run_file: Path | None = None  # the run.json the scene path comes from (the trained run's)
    fingerprint: dict = dataclasses.field(default_factory=dict)  # of the scene it was trained on
    frame_exposure: FrameExposure | None = None  # the training frames' gains (``train.frame_exposure``)
    frame_cameras: FrameCameras | None = None  # the training cameras' corrections (``train.refine_cameras``)

    @property
    def thing_mask(self) -> torch.Tensor:
        """(num_classes,) bool, True at the thing classes."""
        return thing_mask_of(self.class_set)

    def with_field(self, field: nn.Module, run_dir: Path | None = None) -> LoadedRun:
        return dataclasses.replace(self, field=field, run_dir=run_dir or self.run_dir)

    def open_scene(self, size: tuple[int, int] | None = None) -> Scene:
        """The scene the run was trained on (``size``: as in :class:`~panolift.scene.Scene`). A scene that
        is gone is reported with the run.json that names it; one that is not the trained-on scene any more
        (its frames or poses changed) is used with a warning."""
        run_file = self.run_file or self.run_dir / RUN_FILE
        if not self.scene_path.is_dir():
            state = "is not a folder" if os.path.lexists(self.scene_path) else "is gone (moved or deleted?)"
            raise SceneError(
                f"{run_file}: the scene the run was trained on, {self.scene_path}, {state}; put it back, or "
                f'write its new place into the "scene" entry of {run_file}'
            )
        scene = Scene(self.scene_path, size=size)
        key = (str(run_file), str(self.scene_path))
        if self.fingerprint and key not in _CHECKED:
            _CHECKED.add(key)
            fingerprint = scene_fingerprint(scene)
            changed = sorted(k for k in fingerprint if fingerprint[k] != self.fingerprint.get(k))
            if changed:
                log.warning(
                    "%s: the scene %s changed since the run was trained on it (%s differ); the renderings "
                    "use its cameras as they are now", run_file, self.scene_path, ", ".join(changed),
                )  # fmt: skip
        return scene


_CHECKED: set[tuple[str, str]] = set()  # (run.json, scene) pairs compared in this process


def load_trained_run(run_dir: str | Path, device: torch.device | str | None = None) -> LoadedRun:
    """run.json and the latest checkpoint of a trained run; the field comes back in eval mode on
    ``device`` (cpu by default). A checkpoint that does not fit its own config is reported, not loaded."""
    run_dir = Path(run_dir)
    info = read_run_info(run_dir)
    if info.edited_from is not None:  # an edited run's run.json, without its edits.json
        raise SceneError(
            f"{run_dir / EDITS_FILE}: missing (run.json says this is an edited run of {info.edited_from})"
        )
    path = latest_checkpoint(run_dir)
    if path is None:
        raise SceneError(
            f"{run_dir / 'checkpoints'}: no checkpoint yet (is the run still at its first steps?)"
        )
    meta, tensors = read_checkpoint(path, num_classes=info.class_set.num_classes)
    try:
        config = LiftConfig.from_dict(meta["config"])
        field = field_from_tensors(meta, tensors, info.class_set.num_classes)
        exposure = None
        if "exposure.log_gain" in tensors:
            exposure = FrameExposure(tensors["exposure.log_gain"].shape[0])
            exposure.load(tensors)
            exposure.requires_grad_(False)
        cameras = None
        if "cameras.rotation" in tensors:
            cameras = FrameCameras(tensors["cameras.rotation"].shape[0])
            cameras.load(tensors)
            cameras.requires_grad_(False)
    except (KeyError, IndexError, TypeError, ValueError, RuntimeError) as exc:
        raise SceneError(
            f"{path}: checkpoint tensors do not fit its configuration ({type(exc).__name__}: {exc})"
        ) from exc
    field.normalization = info.normalization
    field.render_config = config.render
    unfinished = int(meta["step"]) < config.train.iterations
    if config.field.instance_embedding and not field.has_instance_clusters and unfinished:
        log.warning(
            "%s: step %d of %d; the instance clusters are found at the end of training, so every thing is "
            "one instance until then (resume the training to finish it)",
            path, int(meta["step"]), config.train.iterations,
        )  # fmt: skip
    return LoadedRun(
        run_dir=run_dir, field=field.to(device or "cpu").eval(), config=config, scene_path=info.scene_path,
        class_set=info.class_set, normalization=info.normalization, step=int(meta["step"]),
        image_size=info.image_size, run_file=run_dir / RUN_FILE, fingerprint=info.fingerprint,
        frame_exposure=exposure, frame_cameras=cameras,
    )  # fmt: skip


def training_rays(
    loaded: LoadedRun, max_rays: int = 8192, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Up to ``max_rays`` random rays (field coordinates, CPU) of a run's training views at its image size."""
    scene = loaded.open_scene()
    width, height = loaded.image_size
    K = torch.as_tensor(scale_intrinsics(scene.intrinsics, scene.size, (width, height)), dtype=torch.float32)
    frames = scene.train_frames or scene.frame_names
    generator = torch.Generator().manual_seed(seed)
    per_frame = max(1, max_rays // len(frames))
    origins, dirs = [], []
    for name in frames:
        c2w = torch.as_tensor(loaded.normalization.apply_to_poses(scene.pose(name)), dtype=torch.float32)
        flat = torch.randperm(width * height, generator=generator)[: min(per_frame, width * height)]
        o, d = generate_rays(K, c2w, width, height, pixels=torch.stack([flat % width, flat // width], dim=-1))
        origins.append(o)
        dirs.append(d)
    return torch.cat(origins), torch.cat(dirs)
