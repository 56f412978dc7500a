"""Training rays: the machine labels of the training frames, and the R_S / R_I batches.

Only colour images and machine labels are read (``Scene.machine_labels``); ground truth never is.
Rays are made on the fly from (frame, pixel) indices so memory grows with pixels, not with rays x floats.
Targets are held compactly (:mod:`panolift.lift.targets`, 15 bytes a pixel). When every training frame fits
the memory budget they are all in memory; above it, they stream from disk through a working set of frames
(:mod:`panolift.lift.frame_store`): R_S is drawn from the frames of the working set, R_I from one of them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import torch

from panolift.errors import OptionError
from panolift.scene import Scene, SceneError, SceneNormalization, rays_through_pixels

from .frame_store import MIN_ROWS, FrameStore, WorkingSchedule, memory_budget
from .targets import PixelTargets, decode_targets, encode_frame

log = logging.getLogger(__name__)


@dataclass
class TrainingData:
    """Compact per-pixel targets of the training frames held in memory (all of them, or a working set of
    rows when streaming), with what makes their rays."""

    frame_names: list[str]
    width: int
    height: int
    num_classes: int
    K: torch.Tensor  # (3, 3) at the working size
    c2w: torch.Tensor  # (num_frames, 4, 4) normalised poses of every training frame
    targets: PixelTargets  # (num_rows, H*W, ...) of the frames held
    frames: torch.Tensor  # (num_rows,) long: the training frame each row holds
    usable: torch.Tensor | None  # (num_rows, H*W) bool, None when every pixel of every frame is usable
    stream: FrameStream | None = None  # the frames on disk and the working set's schedule (streaming)

    @property
    def num_frames(self) -> int:
        return len(self.frame_names)

    @property
    def num_rows(self) -> int:
        return self.targets.num_rows

    @property
    def streaming(self) -> bool:
        return self.stream is not None

    def to(self, device: torch.device) -> TrainingData:
        moved = {
            k: (v.to(device) if isinstance(v, torch.Tensor | PixelTargets) else v)
            for k, v in vars(self).items()
        }
        return TrainingData(**moved)

    def nbytes(self) -> int:
        """Bytes of the targets held in memory."""
        tensors = [*self.targets.tensors().values()] + ([self.usable] if self.usable is not None else [])
        return sum(t.numel() * t.element_size() for t in tensors)

    def state(self) -> dict:
        """Where the working set is (streaming; empty otherwise): give it to :meth:`load_state` on resume."""
        return {"position": self.stream.schedule.position} if self.stream is not None else {}

    def load_state(self, state: dict) -> None:
        """Put back the working set of :meth:`state` (streaming; nothing to do otherwise)."""
        if self.stream is not None and "position" in state:
            held = self.stream.schedule.seek(int(state["position"]))
            for row, frame in enumerate(held):
                self.stream.load_row(self, row, frame)


@dataclass
class FrameStream:
    """The frames on disk and the schedule of the working set that holds some of them."""

    store: FrameStore
    schedule: WorkingSchedule

    def load_row(self, data: TrainingData, row: int, frame: int) -> None:
        arrays = self.store.read(frame)
        data.targets.set_row(row, arrays)
        data.frames[row] = frame
        if data.usable is not None:
            data.usable[row].copy_(torch.from_numpy(arrays["usable"]))

    def advance(self, data: TrainingData) -> None:
        """One scene batch further: load the frames that enter the working set now."""
        for row, frame in self.schedule.advance():
            self.load_row(data, row, frame)


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


def read_frame_targets(scene: Scene, name: str, num_slots: int, use_tta: bool) -> dict[str, np.ndarray]:
    """One training frame's compact targets and usable mask (:func:`panolift.lift.targets.encode_frame`)."""
    labels = scene.machine_labels(name, tta=use_tta)
    usable = ~scene.invalid_mask(name)
    instance = drop_extra_instances(np.where(usable, labels.instance, 0), num_slots, name)
    return encode_frame(
        scene.rgb(name), labels, usable, instance, scene.class_set.num_classes, num_slots, name
    )


def load_training_data(
    scene: Scene,
    normalization: SceneNormalization,
    num_slots: int,
    use_tta: bool = True,
    max_memory: float = 0.0,
    seed: int = 0,
    cache_dir: str | None = None,
) -> TrainingData:
    """Read colour and machine labels of ``scene.train_frames`` into compact targets.

    ``use_tta``: the TTA-fused class distributions and confidences; else the no-TTA labels as one-hot
    targets with the no-TTA confidences (the paper's TTA ablation; see ``Scene.machine_labels``).
    ``max_memory``: GiB the targets may take (0: a quarter of the machine's memory). When every frame fits,
    all are held; else every frame is written to an anonymous temporary file (in ``cache_dir``, default the
    system's temporary folder) and a working set of as many frames as fit (at least 8) is held, a sixteenth
    of it replaced at a time by the next frames of shuffled passes over all frames (``seed``), a pass about
    every 512 scene batches (:class:`panolift.lift.frame_store.WorkingSchedule`).
    """
    if not (np.isfinite(max_memory) and max_memory >= 0):
        raise OptionError(
            f"--train.max-memory must be >= 0 GiB (0: a quarter of the memory), got {max_memory}"
        )
    names = list(scene.train_frames)
    num_pixels, num_classes = scene.width * scene.height, scene.class_set.num_classes
    bytes_per_pixel = PixelTargets.empty(1, 1, num_classes, num_slots).bytes_per_pixel + 1  # + usable
    budget = memory_budget(max_memory)
    rows = max(MIN_ROWS, budget // (bytes_per_pixel * num_pixels))
    c2w = normalization.apply_to_poses(np.stack([scene.pose(n) for n in names]))
    data = TrainingData(
        frame_names=names,
        width=scene.width,
        height=scene.height,
        num_classes=num_classes,
        K=torch.as_tensor(scene.intrinsics, dtype=torch.float32),
        c2w=torch.as_tensor(c2w, dtype=torch.float32),
        targets=PixelTargets.empty(min(rows, len(names)), num_pixels, num_classes, num_slots),
        frames=torch.arange(min(rows, len(names))),
        usable=None,
    )
    gib = bytes_per_pixel * num_pixels * len(names) / (1 << 30)
    if rows >= len(names):
        log.info("training targets: %d frames in memory (%.0f MiB)", len(names), gib * 1024)
        for row, name in enumerate(names):
            _set_row(data, row, read_frame_targets(scene, name, num_slots, use_tta))
    else:
        log.info(
            "training targets: %.0f MiB > budget %.0f MiB: streaming %d frames from disk through a working "
            "set of %d", gib * 1024, budget / (1 << 20), len(names), rows,
        )  # fmt: skip
        _load_stream(data, scene, num_slots, use_tta, seed, cache_dir)
    if data.usable is not None and not bool(data.usable.any()) and data.stream is None:
        raise SceneError(f"{scene.root}: no usable pixel in the training frames (invalid/ masks cover them)")
    return data


def _set_row(data: TrainingData, row: int, frame: dict[str, np.ndarray]) -> None:
    data.targets.set_row(row, frame)
    if data.usable is None and not frame["usable"].all():  # the first frame with unusable pixels
        data.usable = torch.ones(data.targets.confidence.shape, dtype=torch.bool)
    if data.usable is not None:
        data.usable[row].copy_(torch.from_numpy(frame["usable"]))


def _load_stream(data: TrainingData, scene: Scene, num_slots: int, use_tta: bool, seed: int, cache_dir):
    store = FrameStore(data.num_frames, data.width * data.height, data.num_classes, num_slots, cache_dir)
    for index, name in enumerate(data.frame_names):
        store.write(index, read_frame_targets(scene, name, num_slots, use_tta))
    if store.any_unusable:
        data.usable = torch.ones(data.targets.confidence.shape, dtype=torch.bool)
    data.stream = FrameStream(store, WorkingSchedule(data.num_frames, data.num_rows, seed))
    for row, frame in enumerate(data.stream.schedule.held):
        data.stream.load_row(data, row, frame)


def rays_for_pixels(
    data: TrainingData, frames: torch.Tensor, pixels: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Rays (num_rays, 3) origins and unit directions through the centres of flat ``pixels`` of training
    frames ``frames`` (normalised coordinates; :func:`panolift.scene.rays_through_pixels`)."""
    x = (pixels % data.width).to(data.K.dtype) + 0.5
    y = (pixels // data.width).to(data.K.dtype) + 0.5
    return rays_through_pixels(data.K, data.c2w[frames], x, y)


def gather_rays(data: TrainingData, rows: torch.Tensor, pixels: torch.Tensor) -> dict[str, torch.Tensor]:
    """Rays and targets of flat ``pixels`` of the held frames ``rows``: origins, dirs, rgb, probability
    (num_rays, num_classes), confidence, instance, segments."""
    origins, dirs = rays_for_pixels(data, data.frames[rows], pixels)
    return {"origins": origins, "dirs": dirs, **decode_targets(data.targets, rows, pixels, data.num_classes)}


MAX_REJECTION_ROUNDS = 64


def draw_usable_pixels(
    data: TrainingData, num_rays: int, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """(rows, pixels) of ``num_rays`` pixels drawn uniformly from the usable pixels of the held frames
    (rejection sampling over all pixels when some are unusable)."""
    num_pixels = data.width * data.height
    total, device = data.num_rows * num_pixels, generator.device
    if data.usable is None:
        flat = torch.randint(total, (num_rays,), generator=generator, device=device).to(data.frames.device)
        return flat // num_pixels, flat % num_pixels
    usable, picks, count = data.usable.view(-1), [], 0
    for _ in range(MAX_REJECTION_ROUNDS):
        candidates = torch.randint(total, (2 * (num_rays - count) + 16,), generator=generator, device=device)
        candidates = candidates.to(usable.device)
        picks.append(candidates[usable[candidates]])
        count += picks[-1].shape[0]
        if count >= num_rays:
            break
    else:  # nearly nothing is usable: draw among the usable pixels themselves
        valid = torch.nonzero(usable)[:, 0]
        if valid.numel() == 0:
            raise SceneError("no usable pixel in the training frames held (invalid/ masks cover them)")
        idx = torch.randint(valid.shape[0], (num_rays,), generator=generator, device=device)
        picks = [valid[idx.to(valid.device)]]
    flat = torch.cat(picks)[:num_rays]
    return flat // num_pixels, flat % num_pixels


def sample_scene_batch(
    data: TrainingData, num_rays: int, generator: torch.Generator
) -> dict[str, torch.Tensor]:
    """R_S: ``num_rays`` rays drawn uniformly from the usable pixels of the training frames held (all of
    them in memory; the working set when streaming, which this call advances)."""
    if data.stream is not None:
        data.stream.advance(data)
    rows, pixels = draw_usable_pixels(data, num_rays, generator)
    return gather_rays(data, rows, pixels)


def sample_image_batch(
    data: TrainingData, num_rays: int, generator: torch.Generator
) -> dict[str, torch.Tensor]:
    """R_I: rays of one random training frame held, half on thing pixels (instance loss), half on labelled
    pixels.

    The batch is sorted by segment id so that the rays of a segment are contiguous (grouped by segment).
    """
    device, targets = generator.device, data.targets
    row = int(torch.randint(data.num_rows, (1,), generator=generator, device=device))
    labelled = torch.nonzero(targets.confidence[row] > 0)[:, 0]
    things = torch.nonzero((targets.instance[row] > 0) & (targets.confidence[row] > 0))[:, 0]
    pools = [p for p in (things, labelled) if p.numel() > 0]
    if not pools:
        pools = [torch.arange(data.width * data.height, device=targets.instance.device)]
    picks = []
    for k, pool in enumerate(pools):
        count = num_rays // len(pools) if k < len(pools) - 1 else num_rays - sum(p.shape[0] for p in picks)
        idx = torch.randint(pool.shape[0], (count,), generator=generator, device=device)
        picks.append(pool[idx.to(pool.device)])
    pixels = torch.cat(picks)
    pixels = pixels[torch.argsort(targets.segments[row, pixels], stable=True)]
    return gather_rays(data, torch.full_like(pixels, row), pixels)


def held_frame_targets(data: TrainingData, row: int) -> dict[str, torch.Tensor]:
    """Every pixel's decoded targets of held row ``row`` (as a batch carries them), for inspection."""
    pixels = torch.arange(data.width * data.height, device=data.frames.device)
    return decode_targets(data.targets, torch.full_like(pixels, row), pixels, data.num_classes)
