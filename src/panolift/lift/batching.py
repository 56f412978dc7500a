"""Training rays: the machine labels of the training frames, and the R_S / R_I batches.

Only colour images and machine labels are read (``Scene.machine_labels``); ground truth never is.
Rays are made on the fly from (frame, pixel) indices so memory grows with pixels, not with rays x floats.
Targets are held compactly (:mod:`panolift.lift.targets`, 15 bytes a pixel). When every training frame fits
the memory budget they are all in memory; above it, every frame is on disk and a random share of each
frame's pixels is in memory, rotating (:mod:`panolift.lift.frame_store`): R_S is drawn across all frames as
in memory, R_I reads its one frame whole.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from panolift.errors import OptionError
from panolift.scene import Scene, SceneError, SceneNormalization, rays_through_pixels

from .frame_store import MIN_HELD, FrameStore, RefreshSchedule, draw_held_pixels, memory_budget
from .targets import PixelTargets, decode_targets, encode_frame

log = logging.getLogger(__name__)

TOUCH_REACH = 2
"""Pixels between two 2D masks that still count as touching (:func:`touching_instances`): a mask's edge may
be a pixel or two short of its neighbour's."""


@dataclass
class TrainingData:
    """Compact per-pixel targets of every training frame, with what makes their rays: all pixels, or (when
    streaming) ``num_held`` pixels of each frame, ``pixels`` saying which."""

    frame_names: list[str]
    width: int
    height: int
    num_classes: int
    K: torch.Tensor  # (3, 3) at the working size
    c2w: torch.Tensor  # (num_frames, 4, 4) normalised poses
    targets: PixelTargets  # (num_frames, num_held, ...); num_held = H*W in memory
    usable: torch.Tensor | None  # (num_frames, H*W) bool in memory; None when every pixel is usable
    pixels: torch.Tensor | None = None  # (num_frames, num_held) int32 flat pixel of each held target
    weights: torch.Tensor | None = None  # (num_frames,) usable pixels per frame (streaming)
    stream: FrameStream | None = None  # the frames on disk and the refresh schedule (streaming)
    boundary: torch.Tensor | None = None  # flat (frame * H*W + pixel) usable pixels on a 2D segment edge
    class_views: torch.Tensor | None = None  # (num_classes,) frames whose labels show each class (top-1)
    target_classes: torch.Tensor | None = None  # (num_classes,) bool: classes that are targets (None: all)
    touching: dict[int, torch.Tensor] = field(default_factory=dict)  # frame -> touching 2D masks (found once)

    @property
    def num_frames(self) -> int:
        return len(self.frame_names)

    @property
    def num_held(self) -> int:
        """Pixels of each frame in memory."""
        return self.targets.rgb.shape[1]

    @property
    def streaming(self) -> bool:
        return self.stream is not None

    def keep_classes_seen_in(self, min_views: int) -> list[int]:
        """Keep as class targets only the classes the labels show in at least ``min_views`` frames
        (:attr:`class_views`); the pixels of the others then carry no target but colour. Returns the classes
        left out: those shown in 1 to ``min_views - 1`` frames (void aside)."""
        keep = (self.class_views >= min_views) | (self.class_views == 0)
        keep[0] = True  # void pixels carry no class target anyway
        self.target_classes = None if bool(keep.all()) else keep
        return [] if self.target_classes is None else torch.nonzero(~keep)[:, 0].tolist()

    def to(self, device: torch.device) -> TrainingData:
        moved = {
            k: (v.to(device) if isinstance(v, torch.Tensor | PixelTargets) else v)
            for k, v in vars(self).items()
        }
        return TrainingData(**moved)

    def nbytes(self) -> int:
        """Bytes of the targets held in memory."""
        tensors = [*self.targets.tensors().values(), self.usable, self.pixels]
        return sum(t.numel() * t.element_size() for t in tensors if t is not None)

    def state(self) -> dict:
        """How far the held pixels rotated (streaming; empty otherwise): for :meth:`load_state` on resume."""
        return {"position": self.stream.position} if self.stream is not None else {}

    def load_state(self, state: dict) -> None:
        """Hold the pixels of :meth:`state` again (streaming; nothing to do otherwise)."""
        if self.stream is not None and "position" in state:
            self.stream.seek(self, int(state["position"]))


@dataclass
class FrameStream:
    """Every frame on disk, and which of their pixels are held (:mod:`panolift.lift.frame_store`)."""

    store: FrameStore
    schedule: RefreshSchedule
    seed: int
    position: int = 0  # scene batches drawn

    def hold(self, data: TrainingData, frame: int, generation: int, arrays=None) -> None:
        """Hold the pixels of ``frame``'s ``generation`` (``arrays``: the frame as the store has it)."""
        arrays = self.store.read(frame) if arrays is None else arrays
        held = draw_held_pixels(arrays["usable"], data.num_held, self.seed, frame, generation)
        data.targets.set_row(frame, {k: v[held] for k, v in arrays.items() if k != "usable"})
        data.pixels[frame].copy_(torch.from_numpy(held))

    def advance(self, data: TrainingData) -> None:
        """One scene batch further: the frames due draw fresh pixels."""
        self.position += 1
        for frame, generation in self.schedule.refreshes(self.position):
            self.hold(data, frame, generation)

    def seek(self, data: TrainingData, position: int) -> None:
        """Hold what was held after ``position`` scene batches."""
        self.position = position
        for frame in range(data.num_frames):
            self.hold(data, frame, self.schedule.generation(frame, position))

    def frame_targets(self, frame: int, device: torch.device) -> PixelTargets:
        """Every pixel of ``frame`` (one row) from the store, on ``device``."""
        arrays = self.store.read(frame)
        rows = {k: torch.from_numpy(v)[None] for k, v in arrays.items() if k != "usable"}
        return PixelTargets(**rows).to(device)


class DroppedInstances:
    """The training frames whose 2D instances outnumber the slots (their smallest were left out of the
    instance loss), gathered while loading, so that a cluttered scene gets one warning, not one a frame."""

    def __init__(self, num_slots: int):
        self.num_slots = num_slots
        self.frames: dict[str, tuple[int, int]] = {}  # frame -> (2D instances, dropped)

    def add(self, frame: str, count: int, dropped: int) -> None:
        self.frames[frame] = (count, dropped)

    def warn(self, num_frames: int) -> None:
        if not self.frames:
            return
        worst = max(self.frames, key=lambda name: self.frames[name][1])
        count, dropped = self.frames[worst]
        log.warning(
            "%d of %d training frames hold more 2D instances than the %d slots; their smallest (%d in all, "
            "%d of %d in frame %s) are left out of the instance loss",
            len(self.frames), num_frames, self.num_slots, sum(d for _, d in self.frames.values()),
            dropped, count, worst,
        )  # fmt: skip


def drop_extra_instances(
    instance: np.ndarray, num_slots: int, frame: str, report: DroppedInstances | None = None
) -> np.ndarray:
    """Keep the ``num_slots`` largest 2D instances of a frame; the others become 0 (noted in ``report``,
    else with a warning)."""
    ids, counts = np.unique(instance[instance > 0], return_counts=True)
    if len(ids) <= num_slots:
        return instance
    dropped = ids[np.argsort(-counts, kind="stable")[num_slots:]]
    if report is not None:
        report.add(frame, len(ids), len(dropped))
    else:
        log.warning(
            "frame %s: %d 2D instances > %d slots, dropping the %d smallest",
            frame, len(ids), num_slots, len(dropped),
        )  # fmt: skip
    return np.where(np.isin(instance, dropped), 0, instance)


def read_frame_targets(
    scene: Scene, name: str, num_slots: int, use_tta: bool, report: DroppedInstances | None = None
) -> dict[str, np.ndarray]:
    """One training frame's compact targets and usable mask (:func:`panolift.lift.targets.encode_frame`)."""
    labels = scene.machine_labels(name, tta=use_tta)
    usable = ~scene.invalid_mask(name)
    instance = drop_extra_instances(np.where(usable, labels.instance, 0), num_slots, name, report)
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
    system's temporary folder) and as many random usable pixels of each frame as fit (at least 256) are
    held, each frame drawing fresh ones about every 1024 scene batches, from ``seed``
    (:mod:`panolift.lift.frame_store`).
    """
    if not (np.isfinite(max_memory) and max_memory >= 0):
        raise OptionError(
            f"--train.max-memory must be >= 0 GiB (0: a quarter of the memory), got {max_memory}"
        )
    names = list(scene.train_frames)
    num_pixels, num_classes = scene.width * scene.height, scene.class_set.num_classes
    compact = PixelTargets.empty(1, 1, num_classes, num_slots).bytes_per_pixel
    budget = memory_budget(max_memory)
    in_memory = len(names) * num_pixels * (compact + 1) <= budget  # + 1: a usable mask, if needed
    held = num_pixels if in_memory else min(num_pixels, max(MIN_HELD, budget // (len(names) * (compact + 4))))
    c2w = normalization.apply_to_poses(np.stack([scene.pose(n) for n in names]))
    data = TrainingData(
        frame_names=names,
        width=scene.width,
        height=scene.height,
        num_classes=num_classes,
        K=torch.as_tensor(scene.intrinsics, dtype=torch.float32),
        c2w=torch.as_tensor(c2w, dtype=torch.float32),
        targets=PixelTargets.empty(len(names), held, num_classes, num_slots),
        usable=None,
    )
    mib = len(names) * num_pixels * compact / (1 << 20)
    report = DroppedInstances(num_slots)
    data.class_views = torch.zeros(num_classes, dtype=torch.int64)
    if in_memory:
        log.debug("training targets: %d frames in memory (%.0f MiB)", len(names), mib)
        for frame, name in enumerate(names):
            arrays = read_frame_targets(scene, name, num_slots, use_tta, report)
            data.class_views += frame_classes(arrays, num_classes)
            _set_frame(data, frame, arrays)
        if data.usable is not None and not bool(data.usable.any()):
            raise SceneError(
                f"{scene.root}: no usable pixel in the training frames (invalid/ masks cover them)"
            )
    else:
        log.info(
            "training targets: %.0f MiB > budget %.0f MiB: all %d frames on disk, %d of each frame's %d "
            "pixels in memory", mib, budget / (1 << 20), len(names), held, num_pixels,
        )  # fmt: skip
        _load_stream(data, scene, num_slots, use_tta, seed, cache_dir, report)
    report.warn(len(names))
    return data


def frame_classes(arrays: dict[str, np.ndarray], num_classes: int) -> torch.Tensor:
    """(num_classes,) bool: the classes that are the most likely class of a labelled pixel of a frame's
    targets (:func:`read_frame_targets`)."""
    top = arrays["classes"][:, 0][arrays["confidence"] > 0].astype(np.int64)
    return torch.from_numpy(np.bincount(top, minlength=num_classes)[:num_classes] > 0)


def _set_frame(data: TrainingData, frame: int, arrays: dict[str, np.ndarray]) -> None:
    data.targets.set_row(frame, arrays)
    if data.usable is None and not arrays["usable"].all():  # the first frame with unusable pixels
        data.usable = torch.ones(data.targets.confidence.shape, dtype=torch.bool)
    if data.usable is not None:
        data.usable[frame].copy_(torch.from_numpy(arrays["usable"]))


def _load_stream(
    data: TrainingData, scene: Scene, num_slots: int, use_tta: bool, seed: int, cache_dir, report
) -> None:
    store = FrameStore(data.num_frames, data.width * data.height, data.num_classes, num_slots, cache_dir)
    data.stream = FrameStream(store, RefreshSchedule(data.num_frames), seed)
    data.pixels = torch.zeros(data.num_frames, data.num_held, dtype=torch.int32)
    weights = []
    for frame, name in enumerate(data.frame_names):
        arrays = read_frame_targets(scene, name, num_slots, use_tta, report)
        data.class_views += frame_classes(arrays, data.num_classes)
        store.write(frame, arrays)
        data.stream.hold(data, frame, 0, arrays)
        weights.append(int(arrays["usable"].sum()))
    if not any(weights):
        raise SceneError(f"{scene.root}: no usable pixel in the training frames (invalid/ masks cover them)")
    if len(set(weights)) > 1:  # frames are drawn as often as they have usable pixels, as in memory
        data.weights = torch.tensor(weights, dtype=torch.float32)


def rays_for_pixels(
    data: TrainingData, frames: torch.Tensor, pixels: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Rays (num_rays, 3) origins and unit directions through the centres of flat ``pixels`` of training
    frames ``frames`` (normalised coordinates; :func:`panolift.scene.rays_through_pixels`)."""
    x = (pixels % data.width).to(data.K.dtype) + 0.5
    y = (pixels // data.width).to(data.K.dtype) + 0.5
    return rays_through_pixels(data.K, data.c2w[frames], x, y)


def gather_rays(
    data: TrainingData, frames: torch.Tensor, pixels: torch.Tensor, targets: PixelTargets | None = None,
    rows: torch.Tensor | None = None, columns: torch.Tensor | None = None,
) -> dict[str, torch.Tensor]:  # fmt: skip
    """Rays of flat ``pixels`` of ``frames`` with their targets, ``targets[rows, columns]`` (default: the
    held targets at (frames, pixels)): origins, dirs, rgb, probability (num_rays, num_classes), confidence,
    instance, segments."""
    origins, dirs = rays_for_pixels(data, frames, pixels)
    targets = data.targets if targets is None else targets
    rows, columns = (frames if rows is None else rows), (pixels if columns is None else columns)
    return {
        "origins": origins,
        "dirs": dirs,
        **decode_targets(targets, rows, columns, data.num_classes, data.target_classes),
    }


MAX_REJECTION_ROUNDS = 64


def draw_usable_pixels(
    data: TrainingData, num_rays: int, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """(frames, pixels) of ``num_rays`` pixels drawn uniformly from the usable pixels of all frames in memory
    (rejection sampling over all pixels when some are unusable)."""
    num_pixels = data.width * data.height
    total, device = data.num_frames * num_pixels, generator.device
    if data.usable is None:
        flat = torch.randint(total, (num_rays,), generator=generator, device=device).to(data.K.device)
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
        idx = torch.randint(valid.shape[0], (num_rays,), generator=generator, device=device)
        picks = [valid[idx.to(valid.device)]]
    flat = torch.cat(picks)[:num_rays]
    return flat // num_pixels, flat % num_pixels


def draw_held(
    data: TrainingData, num_rays: int, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """(frames, columns) of ``num_rays`` held targets (streaming): frames as often as they have usable
    pixels, a held pixel of each uniformly."""
    device, held = generator.device, data.num_held
    if data.weights is None:
        flat = torch.randint(data.num_frames * held, (num_rays,), generator=generator, device=device)
        return flat // held, flat % held
    frames = torch.multinomial(data.weights.to(device), num_rays, replacement=True, generator=generator)
    return frames, torch.randint(held, (num_rays,), generator=generator, device=device)


def boundary_pixels(data: TrainingData) -> torch.Tensor:
    """Flat indices (frame * H*W + pixel, int64) of the usable pixels of the frames in memory that lie on
    or next to an edge of their frame's 2D segments: a pixel whose segment differs from a neighbour's
    (4-neighbours) or within one pixel of one (3x3). Object silhouettes, thin parts and small objects
    are all edge; walls and floors mostly not."""
    frames = data.targets.segments.view(data.num_frames, data.height, data.width).to(torch.int32)
    edge = torch.zeros(frames.shape, dtype=torch.bool, device=frames.device)
    across = frames[:, :, 1:] != frames[:, :, :-1]
    down = frames[:, 1:, :] != frames[:, :-1, :]
    edge[:, :, 1:] |= across
    edge[:, :, :-1] |= across
    edge[:, 1:, :] |= down
    edge[:, :-1, :] |= down
    edge = F.max_pool2d(edge[:, None].float(), 3, stride=1, padding=1)[:, 0] > 0
    edge = edge.view(data.num_frames, -1)
    if data.usable is not None:
        edge &= data.usable
    return torch.nonzero(edge.view(-1))[:, 0]


def sample_scene_batch(
    data: TrainingData, num_rays: int, generator: torch.Generator, edge_share: float = 0.0
) -> dict[str, torch.Tensor]:
    """R_S: ``num_rays`` rays drawn uniformly from the usable pixels of all training frames (when streaming,
    from the pixels held of each frame; the call advances their rotation), with the ``frame`` and flat
    ``pixel`` of each. ``edge_share`` (frames in memory): that share of the rays is drawn uniformly from
    the pixels on the edges of the 2D segments instead (:func:`boundary_pixels`, found once), where
    lifting loses most (silhouettes blurred, thin parts and small objects)."""
    if data.stream is None:
        frames, pixels = draw_usable_pixels(data, num_rays, generator)
        on_edges = int(round(edge_share * num_rays))
        if on_edges > 0:
            if data.boundary is None:
                data.boundary = boundary_pixels(data)
            if data.boundary.numel() > 0:
                pick = torch.randint(
                    data.boundary.shape[0], (on_edges,), generator=generator, device=generator.device
                )
                flat = data.boundary[pick.to(data.boundary.device)]
                num_pixels = data.width * data.height  # the edge rays replace the first uniform ones
                frames = torch.cat([frames[on_edges:], flat // num_pixels])
                pixels = torch.cat([pixels[on_edges:], flat % num_pixels])
        return {**gather_rays(data, frames, pixels), "frame": frames, "pixel": pixels}
    data.stream.advance(data)
    frames, columns = draw_held(data, num_rays, generator)
    frames, columns = frames.to(data.K.device), columns.to(data.K.device)
    pixels = data.pixels[frames, columns].long()
    rays = gather_rays(data, frames, pixels, rows=frames, columns=columns)
    return {**rays, "frame": frames, "pixel": pixels}


def touching_instances(
    instance: torch.Tensor, width: int, height: int, reach: int = TOUCH_REACH
) -> torch.Tensor:
    """(P, 2) the pairs (a < b) of 2D instance ids (> 0) of one frame's flat (H*W,) ``instance`` map whose
    masks come within ``reach`` pixels of each other (a row, column or diagonal step): the masks that a 2D
    model merges or tells apart, one view's word on whether two neighbours are one object."""
    ids = instance.reshape(height, width).long()
    span = int(ids.max()) + 1 if ids.numel() else 1
    codes = []
    for dy in range(reach + 1):
        for dx in range(-reach, reach + 1):
            if (dy, dx) <= (0, 0):
                continue  # each offset once, up to its opposite
            a = ids[: height - dy, max(0, -dx) : width - max(0, dx)]
            b = ids[dy:, max(0, dx) : width - max(0, -dx)]
            both = (a > 0) & (b > 0) & (a != b)
            a, b = a[both], b[both]
            codes.append(torch.minimum(a, b) * span + torch.maximum(a, b))
    codes = torch.unique(torch.cat(codes)) if codes else ids.new_zeros(0)
    return torch.stack([codes // span, codes % span], dim=1)


def sample_image_batch(
    data: TrainingData,
    num_rays: int,
    generator: torch.Generator,
    balanced: bool = False,
    touching: bool = False,
) -> dict[str, torch.Tensor]:
    """R_I: rays of one random training frame, half on thing pixels (instance loss), half on labelled pixels
    (when streaming, the frame is read whole from disk: the same batch as in memory). ``balanced``: half of
    the thing rays are drawn evenly over the frame's 2D instances instead (each instance the same share,
    whatever its size: small objects are in every instance loss); the rays carry ``pixel_weight``, 0 for
    those and 1 for the rays drawn evenly over pixels, for the losses that must not favour small segments
    (the segment-consistency majority flips a small object to its neighbour's class when its segment gets
    as many rays as a large one: measured on suite room 6's bag). ``touching``: the batch also carries
    the frame's pairs of touching 2D instances (:func:`touching_instances`) as ``touching``.

    The batch is sorted by segment id so that the rays of a segment are contiguous (grouped by segment).
    """
    device = generator.device
    frame = int(torch.randint(data.num_frames, (1,), generator=generator, device=device))
    if data.stream is None:
        targets, row = data.targets, frame
    else:
        targets, row = data.stream.frame_targets(frame, data.K.device), 0
    labelled_mask = targets.confidence[row] > 0
    if data.target_classes is not None:  # pixels of a class that is not lifted carry no target
        labelled_mask &= data.target_classes[targets.classes[row, :, 0].long()]
    labelled = torch.nonzero(labelled_mask)[:, 0]
    things = torch.nonzero((targets.instance[row] > 0) & labelled_mask)[:, 0]
    pools = [p for p in (things, labelled) if p.numel() > 0]
    if not pools:
        pools = [torch.arange(data.width * data.height, device=targets.instance.device)]
    picks, weights = [], []
    for k, pool in enumerate(pools):
        count = num_rays // len(pools) if k < len(pools) - 1 else num_rays - sum(p.shape[0] for p in picks)
        even = count // 2 if balanced and pool is things else 0
        idx = torch.randint(pool.shape[0], (count - even,), generator=generator, device=device)
        if even:  # each pixel weighted by 1 / its instance's area
            _, inverse, area = torch.unique(
                targets.instance[row, pool], return_inverse=True, return_counts=True
            )
            share = (1.0 / area.double())[inverse].to(device)
            idx = torch.cat([idx, torch.multinomial(share, even, replacement=True, generator=generator)])
        picks.append(pool[idx.to(pool.device)])
        weights += [torch.ones(count - even), torch.zeros(even)]
    pixels, weights = torch.cat(picks), torch.cat(weights)
    order = torch.argsort(targets.segments[row, pixels], stable=True)
    pixels, frames = pixels[order], torch.full_like(pixels, frame)
    rays = gather_rays(data, frames, pixels, targets, torch.full_like(pixels, row))
    pixel_weight = weights[order.cpu()].to(rays["confidence"].device)
    batch = {**rays, "frame": frames, "pixel": pixels, "pixel_weight": pixel_weight}
    if touching:  # each frame's pairs found once (its 2D masks never change)
        if frame not in data.touching:
            data.touching[frame] = touching_instances(targets.instance[row], data.width, data.height)
        batch["touching"] = data.touching[frame]
    return batch


def frame_targets(
    data: TrainingData, frame: int, pixels: torch.Tensor | None = None
) -> dict[str, torch.Tensor]:
    """The decoded targets of training frame ``frame`` (as a batch carries them) at its flat ``pixels``
    (default: every pixel), for inspection and the label votes; from the store when streaming."""
    targets, row = (
        (data.targets, frame) if data.stream is None else (data.stream.frame_targets(frame, "cpu"), 0)
    )
    if pixels is None:
        pixels = torch.arange(data.width * data.height, device=targets.rgb.device)
    pixels = pixels.to(targets.rgb.device)
    return decode_targets(
        targets, torch.full_like(pixels, row), pixels, data.num_classes, data.target_classes
    )
