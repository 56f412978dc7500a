"""Training rays: the machine labels of the training frames in memory, and the R_S / R_I batches.

Only colour images and machine labels are read (``Scene.machine_labels``); ground truth never is.
Rays are made on the fly from (frame, pixel) indices so memory grows with pixels, not with rays x floats.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import torch

from panolift.scene import Scene, SceneNormalization, rays_through_pixels

log = logging.getLogger(__name__)


@dataclass
class TrainingData:
    """Per-pixel training targets of all training frames, flattened to (num_frames, H*W, ...)."""

    frame_names: list[str]
    width: int
    height: int
    K: torch.Tensor  # (3, 3) at the working size
    c2w: torch.Tensor  # (num_frames, 4, 4) normalised poses
    rgb: torch.Tensor  # (num_frames, H*W, 3) uint8
    probability: torch.Tensor  # (num_frames, H*W, num_classes) float16, soft machine labels
    confidence: torch.Tensor  # (num_frames, H*W) float16, 0 on void / invalid pixels
    instance: torch.Tensor  # (num_frames, H*W) int32 2D instance id, 0 = stuff / void / dropped
    segments: torch.Tensor  # (num_frames, H*W) int32, 0 = none
    valid: torch.Tensor  # (num_valid,) long flat indices frame * H*W + pixel of usable pixels

    @property
    def num_frames(self) -> int:
        return len(self.frame_names)

    def to(self, device: torch.device) -> TrainingData:
        moved = {k: (v.to(device) if isinstance(v, torch.Tensor) else v) for k, v in self.__dict__.items()}
        return TrainingData(**moved)


def drop_extra_instances(instance: np.ndarray, num_slots: int, frame: str) -> np.ndarray:
    """Keep the ``num_slots`` largest 2D instances of a frame; the others become 0 (with a warning)."""
    ids, counts = np.unique(instance[instance > 0], return_counts=True)
    if len(ids) <= num_slots:
        return instance
    dropped = ids[np.argsort(-counts, kind="stable")[num_slots:]]
    log.warning(
        "frame %s: %d 2D instances > %d slots, dropping the %d smallest",
        frame,
        len(ids),
        num_slots,
        len(dropped),
    )
    return np.where(np.isin(instance, dropped), 0, instance)


def load_training_data(
    scene: Scene, normalization: SceneNormalization, num_slots: int, use_tta: bool = True
) -> TrainingData:
    """Read colour and machine labels of ``scene.train_frames``.

    ``use_tta``: the TTA-fused class distributions and confidences; else the no-TTA labels as one-hot
    targets with the no-TTA confidences (the paper's TTA ablation; see ``Scene.machine_labels``).
    """
    names = list(scene.train_frames)
    rgb, prob, conf, inst, segs, valid = [], [], [], [], [], []
    num_pixels = scene.width * scene.height
    for i, name in enumerate(names):
        labels = scene.machine_labels(name, tta=use_tta)
        usable = ~scene.invalid_mask(name)
        rgb.append(np.round(scene.rgb(name) * 255).astype(np.uint8).reshape(-1, 3))
        prob.append(labels.probability.astype(np.float16).reshape(num_pixels, -1))
        confidence = np.where(usable & (labels.semantics > 0), labels.confidence, 0.0)
        conf.append(confidence.astype(np.float16).reshape(-1))
        instance = drop_extra_instances(np.where(usable, labels.instance, 0), num_slots, name)
        inst.append(instance.astype(np.int32).reshape(-1))
        segs.append(np.where(usable, labels.segments, 0).astype(np.int32).reshape(-1))
        valid.append(np.flatnonzero(usable.reshape(-1)) + i * num_pixels)
    c2w = normalization.apply_to_poses(np.stack([scene.pose(n) for n in names]))
    return TrainingData(
        frame_names=names,
        width=scene.width,
        height=scene.height,
        K=torch.as_tensor(scene.intrinsics, dtype=torch.float32),
        c2w=torch.as_tensor(c2w, dtype=torch.float32),
        rgb=torch.from_numpy(np.stack(rgb)),
        probability=torch.from_numpy(np.stack(prob)),
        confidence=torch.from_numpy(np.stack(conf)),
        instance=torch.from_numpy(np.stack(inst)),
        segments=torch.from_numpy(np.stack(segs)),
        valid=torch.from_numpy(np.concatenate(valid)).long(),
    )


def rays_for_pixels(
    data: TrainingData, frames: torch.Tensor, pixels: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Rays (num_rays, 3) origins and unit directions through the centres of flat ``pixels`` of ``frames``
    (normalised coordinates; :func:`panolift.scene.rays_through_pixels`)."""
    x = (pixels % data.width).to(data.K.dtype) + 0.5
    y = (pixels // data.width).to(data.K.dtype) + 0.5
    return rays_through_pixels(data.K, data.c2w[frames], x, y)


def _gather(data: TrainingData, frames: torch.Tensor, pixels: torch.Tensor) -> dict[str, torch.Tensor]:
    origins, dirs = rays_for_pixels(data, frames, pixels)
    return {
        "origins": origins,
        "dirs": dirs,
        "rgb": data.rgb[frames, pixels].float() / 255.0,
        "probability": data.probability[frames, pixels].float(),
        "confidence": data.confidence[frames, pixels].float(),
        "instance": data.instance[frames, pixels].long(),
        "segments": data.segments[frames, pixels].long(),
    }


def sample_scene_batch(
    data: TrainingData, num_rays: int, generator: torch.Generator
) -> dict[str, torch.Tensor]:
    """R_S: ``num_rays`` rays drawn uniformly from the usable pixels of all training frames."""
    pick = torch.randint(data.valid.shape[0], (num_rays,), generator=generator, device=generator.device)
    flat = data.valid[pick.to(data.valid.device)]
    num_pixels = data.width * data.height
    return _gather(data, flat // num_pixels, flat % num_pixels)


def sample_image_batch(
    data: TrainingData, num_rays: int, generator: torch.Generator
) -> dict[str, torch.Tensor]:
    """R_I: rays of one random training frame, half on thing pixels (instance loss), half on labelled pixels.

    The batch is sorted by segment id so that the rays of a segment are contiguous (grouped by segment).
    """
    device = generator.device
    frame = int(torch.randint(data.num_frames, (1,), generator=generator, device=device))
    labelled = torch.nonzero(data.confidence[frame] > 0)[:, 0]
    things = torch.nonzero((data.instance[frame] > 0) & (data.confidence[frame] > 0))[:, 0]
    pools = [p for p in (things, labelled) if p.numel() > 0]
    if not pools:
        pools = [torch.arange(data.width * data.height, device=data.instance.device)]
    picks = []
    for k, pool in enumerate(pools):
        count = num_rays // len(pools) if k < len(pools) - 1 else num_rays - sum(p.shape[0] for p in picks)
        idx = torch.randint(pool.shape[0], (count,), generator=generator, device=device)
        picks.append(pool[idx.to(pool.device)])
    pixels = torch.cat(picks)
    pixels = pixels[torch.argsort(data.segments[frame, pixels], stable=True)]
    return _gather(data, torch.full_like(pixels, frame), pixels)
