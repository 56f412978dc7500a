"""Whole images at any resolution and aspect, rendered in chunks; panoptic labels from a rendering."""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, nullcontext

import numpy as np
import torch
from scipy import ndimage

from panolift.config import RenderConfig
from panolift.field.precision import mlp_dtype
from panolift.scene import ClassSet, SceneNormalization, generate_rays

from .probe import field_device
from .renderer import render_rays, sampling_domain


@torch.no_grad()
def render_image(
    field,
    K: np.ndarray | torch.Tensor,
    c2w: np.ndarray | torch.Tensor,
    width: int,
    height: int,
    normalization: SceneNormalization | None = None,
    config: RenderConfig | None = None,
    on_chunk: Callable[[float], None] | None = None,
    thing_mask: torch.Tensor | None = None,
    parallel_chunks: bool = False,
) -> dict[str, torch.Tensor]:
    """Render one view. ``K`` (3, 3) is for ``width`` x ``height``; ``c2w`` (4, 4) is in WORLD units (OpenCV).

    The pose is normalised with ``normalization`` (default: ``field.normalization``); ``config`` defaults
    to ``field.render_config`` (the run's settings, set by ``load_run``), else RenderConfig(); its
    ``image_samples_per_ray`` and ``image_march_segment`` replace the training values for whole images.
    Returns tensors on the field's device: rgb (H, W, 3), depth (H, W) (z-depth in world units), opacity (H, W),
    semantics (H, W, num_classes), instance (H, W, num_slots) (the rendered distributions; rendered
    logits for an unbounded field) and points (H, W, 3): where each ray ends (expected distance over
    opacity), field coordinates, for the instance table's lookup (:func:`panoptic_from_rendering`); and
    slot_class_prior (G, num_classes) for an embedding field with 3D instances (:func:`slot_class_prior_of`). ``on_chunk(seconds)`` is told how long each chunk of rays took (a
    :class:`~panolift.lift.threads.ThreadTuner` picks the CPU threads from it). With ``thing_mask``
    (:func:`thing_mask_of`) the instance head is evaluated only on rays rendered as a thing class, the only
    ones whose id it decides (the others' instance is zero; same ids, a cheaper frame).
    ``parallel_chunks`` (CPU): with torch set to N > 1 threads, N chunks of rays are rendered at once, each
    on a thread of its own with torch on one thread (:func:`next_chunk_group`), instead of one chunk at a
    time on N threads: the same image, faster (the march and the small MLPs use two threads poorly) and far
    less hurt by a competing job. For callers that own the process's torch threads while they render:
    the count is 1 during a group and put back after it (``on_chunk`` may change it between groups).
    """
    normalization = normalization if normalization is not None else getattr(field, "normalization", None)
    if normalization is None:
        raise ValueError("render_image needs the scene normalisation (pass normalization=...)")
    config = config or getattr(field, "render_config", None) or RenderConfig()
    config = dataclasses.replace(
        config,
        max_evaluated_per_ray=config.image_samples_per_ray or config.max_evaluated_per_ray,
        march_segment=config.image_march_segment or config.march_segment,
    )
    device = field_device(field)
    c2w_n = torch.as_tensor(
        normalization.apply_to_poses(np.asarray(c2w, dtype=np.float64)), dtype=torch.float32
    )
    K = torch.as_tensor(np.asarray(K, dtype=np.float64), dtype=torch.float32)
    origins, dirs = generate_rays(K, c2w_n, width, height)
    origins, dirs = origins.to(device), dirs.to(device)
    cos_z = dirs @ c2w_n[:3, 2].to(device)  # t along a unit ray -> z-depth
    domain = sampling_domain(field, config, device)
    dtype = mlp_dtype(config.image_precision, device)

    def render_span(span: tuple[int, int]) -> dict[str, torch.Tensor]:
        with torch.no_grad():  # grad mode is per thread: a worker needs its own
            return render_rays(
                field,
                origins[span[0] : span[1]],
                dirs[span[0] : span[1]],
                config,
                domain=domain,
                instance_classes=thing_mask,
                mlp_dtype=dtype,
            )

    parallel = parallel_chunks and device.type == "cpu"
    num_rays, done = origins.shape[0], 0
    chunks: dict[str, list[torch.Tensor]] = {}
    with ThreadPoolExecutor(max(2, torch.get_num_threads())) if parallel else nullcontext() as pool:
        while done < num_rays:
            workers = torch.get_num_threads() if parallel else 1
            group = next_chunk_group(done, num_rays, config.chunk_rays, workers)
            start = time.perf_counter()
            if len(group) > 1:
                with _torch_threads(1):
                    outs = list(pool.map(render_span, group))
            else:
                outs = [render_span(group[0])]
            for out in outs:
                for key, value in out.items():
                    if value.ndim > 0:
                        chunks.setdefault(key, []).append(value)
            done = group[-1][1]
            if on_chunk is not None:  # each chunk's share of the group's time (throughput, for the tuner)
                seconds = (time.perf_counter() - start) / len(group)
                for _ in group:
                    on_chunk(seconds)
    result = {
        key: torch.cat(parts).reshape(height, width, *parts[0].shape[1:]) for key, parts in chunks.items()
    }
    distance = result["depth"] / result["opacity"].clamp_min(1e-6)
    result["points"] = (origins + dirs * distance.reshape(-1, 1)).reshape(height, width, 3)
    result["depth"] = result["depth"] * cos_z.reshape(height, width) / normalization.scale
    slot_class_prior = slot_class_prior_of(field)
    if slot_class_prior is not None:  # an embedding field's instance classes go with its instances
        result["slot_class_prior"] = slot_class_prior
    return result


def next_chunk_group(start: int, num_rays: int, chunk_rays: int, workers: int) -> list[tuple[int, int]]:
    """The next ``workers`` chunks of rays from ``start``: (begin, end) spans of at most ``chunk_rays``,
    sized so that the rays left split into whole groups of equal chunks (no worker idles through a
    group's short last chunk)."""
    left = num_rays - start
    groups = math.ceil(left / (workers * chunk_rays))
    size = math.ceil(left / (groups * workers))
    return [(b, min(b + size, num_rays)) for b in range(start, min(start + workers * size, num_rays), size)]


@contextmanager
def _torch_threads(count: int) -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def thing_mask_of(class_set: ClassSet) -> torch.Tensor:
    """(num_classes,) bool, True at the thing classes."""
    mask = torch.zeros(class_set.num_classes, dtype=torch.bool)
    mask[list(class_set.thing_ids)] = True
    return mask


def compute_panoptic_ids(
    semantics: torch.Tensor,  # (..., num_classes) probabilities (or logits), rendered or per point
    instance: torch.Tensor | None,  # (..., num_slots)
    thing_mask: torch.Tensor,  # (num_classes,) bool, True for thing classes
    slot_class_prior: torch.Tensor | None = None,  # (G, num_classes) class prior of each slot
) -> tuple[torch.Tensor, torch.Tensor]:
    """Class and 3D instance id, the one convention of renders, edits and exports:

        k* = argmax_{k >= 1} kappa(k);   id = argmax_j pi(j) + 1 if k* is a thing class, else 0.

    Void (k = 0) is left out of the argmax: it gets no training weight, so its probability only reflects
    missing supervision. With ``slot_class_prior`` (an embedding field's 3D instances: the vote of the
    2D labels of each one's rays, see :func:`slot_class_prior_of`) a thing's class also weighs what its instance is:

        k = argmax over thing classes of  log kappa(k) + log(prior_id(k) + PRIOR_FLOOR)

    so that a pixel where the semantic head wavers between two plausible classes takes its object's,
    while one that is sure of its class keeps it (an instance that holds two objects the embedding did
    not tell apart does not recolour the smaller). Slots without a row (a duplicated copy's) keep k*.
    Returns class ids and ids (...,), both int64 (ids 0 without ``instance``).
    """
    classes = semantics[..., 1:].argmax(dim=-1) + 1
    if instance is None:
        return classes, torch.zeros_like(classes)
    slots = instance.argmax(dim=-1)
    thing_mask = thing_mask.to(semantics.device)
    thing = thing_mask[classes]
    ids = torch.where(thing, slots + 1, torch.zeros_like(slots))
    if slot_class_prior is not None and slot_class_prior.numel() > 0:
        prior = slot_class_prior.to(semantics)
        has_row = slots < prior.shape[0]
        rows = prior[slots.clamp_max(prior.shape[0] - 1)]
        log_p = (
            torch.log(semantics.clamp_min(1e-6))
            if bool((semantics >= 0).all())
            else semantics.log_softmax(-1)
        )
        score = log_p + torch.log(rows + PRIOR_FLOOR)
        score = score.masked_fill(~thing_mask, float("-inf"))
        classes = torch.where(thing & has_row, score.argmax(dim=-1), classes)
    return classes, ids


PRIOR_FLOOR = 0.01
"""Added to an instance's class distribution before its log: a class none of its rays had is 100x less
likely than one all had, not impossible."""


def slot_class_prior_of(field) -> torch.Tensor | None:
    """A field's per-slot classes (an embedding field's instance clusters; wrappers forward it), else None."""
    classes = getattr(field, "slot_class_prior", None)
    return classes if isinstance(classes, torch.Tensor) else None


def remove_specks(
    semantics: np.ndarray, instance: np.ndarray, min_pixels: float
) -> tuple[np.ndarray, np.ndarray]:
    """(H, W) class and id maps in which every thing segment (id > 0: one class and id) of fewer than
    ``min_pixels`` pixels takes the class and id of the nearest pixel outside such segments (stuff and
    larger segments are unchanged; nothing changes where every pixel is a speck)."""
    thing = instance > 0
    if min_pixels <= 0 or not bool(thing.any()):
        return semantics, instance
    keys = semantics.astype(np.int64) * (int(instance.max()) + 1) + instance
    _, inverse, counts = np.unique(keys, return_inverse=True, return_counts=True)
    speck = thing & (counts[inverse.reshape(keys.shape)] < min_pixels)
    return fill_from_nearest(semantics, instance, speck)


SNAP_VOTES_PER_BAND = 1 << 23
"""Vote cells ((segments + neighbours) x pixels) :func:`snap_to_colour` holds at once: a frame with many
pixels to decide, or many segments, is snapped in chunks (at most 64 MiB of votes and of indices each)."""


def snap_to_colour(
    semantics: np.ndarray,
    instance: np.ndarray,
    rgb: np.ndarray,
    radius: int,
    sigma: float = 0.06,
    iterations: int = 2,
) -> tuple[np.ndarray, np.ndarray]:
    """(H, W) class and id maps whose segments (class, id) follow the edges of the rendered colour ``rgb``
    ((H, W, 3) in [0, 1]): each pass gives every pixel the segment with the most weight among 5 x 5
    neighbours spaced max(1, r // 2) pixels apart (its 5 x 5 window at r = 2 and 3; the same cost at any
    r), a neighbour q of p weighing exp(-|rgb_q - rgb_p|^2 / 2 sigma^2) exp(-|q - p|^2 / 2 r^2) (a joint
    bilateral vote). The colour is fitted to every training pixel; the labels come from heads on a
    coarser lattice and from 2D labels that are noisiest at the objects' outlines, so a label edge a
    pixel or two off the colour edge moves onto it. Only pixels with another segment among their
    neighbours are voted on (the others would keep theirs). ``radius`` 0: unchanged."""
    if radius <= 0 or iterations <= 0 or semantics.size == 0:
        return semantics, instance
    h, w = semantics.shape
    base = int(instance.max()) + 1
    segments, label = np.unique(semantics.astype(np.int64) * base + instance, return_inverse=True)
    if segments.shape[0] == 1:
        return semantics, instance
    label = label.reshape(h, w)
    spacing = max(1, radius // 2)
    reach = 2 * spacing
    offsets = [
        (dy, dx) for dy in range(-reach, reach + 1, spacing) for dx in range(-reach, reach + 1, spacing)
    ]
    colour = np.pad(np.asarray(rgb, dtype=np.float32), ((reach, reach), (reach, reach), (0, 0)), mode="edge")
    chunk = max(1, SNAP_VOTES_PER_BAND // (segments.shape[0] + len(offsets)))
    for _ in range(iterations):
        padded = np.pad(label, reach, mode="edge")
        mixed = np.zeros((h, w), dtype=bool)  # another segment among the neighbours
        for dy, dx in offsets:
            mixed |= padded[reach + dy : reach + dy + h, reach + dx : reach + dx + w] != label
        pixels = np.flatnonzero(mixed)
        if pixels.size == 0:
            break
        snapped = label.ravel().copy()
        for start in range(0, pixels.size, chunk):
            some = pixels[start : start + chunk]
            rows, cols = some // w + reach, some % w + reach
            centre = colour[rows, cols]
            near, weight = [], []
            for dy, dx in offsets:
                near.append(padded[rows + dy, cols + dx])
                distance = np.square(colour[rows + dy, cols + dx] - centre).sum(axis=-1) / (
                    2.0 * sigma * sigma
                )
                weight.append(np.exp(-distance - (dy * dy + dx * dx) / (2.0 * radius * radius)))
            cells = some.size
            votes = np.bincount(
                np.concatenate(near) * cells + np.tile(np.arange(cells), len(offsets)),
                weights=np.concatenate(weight),
                minlength=segments.shape[0] * cells,
            )
            snapped[some] = votes.reshape(segments.shape[0], cells).argmax(axis=0)
        label = snapped.reshape(h, w)
    keys = segments[label]
    return (keys // base).astype(semantics.dtype), (keys % base).astype(instance.dtype)


def remove_classes(semantics: np.ndarray, instance: np.ndarray, classes) -> tuple[np.ndarray, np.ndarray]:
    """(H, W) class and id maps in which the pixels of ``classes`` take the class and id of the nearest
    pixel of another class (a stray class of a rendered split, see ``RenderConfig.min_segment_share``)."""
    return fill_from_nearest(
        semantics, instance, np.isin(semantics, np.asarray(list(classes), dtype=np.int64))
    )


def fill_from_nearest(
    semantics: np.ndarray, instance: np.ndarray, mask: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The pixels in ``mask`` take the class and id of the nearest pixel outside it (unchanged where the
    mask is empty or covers everything)."""
    if not bool(mask.any()) or bool(mask.all()):
        return semantics, instance
    _, (rows, cols) = ndimage.distance_transform_edt(mask, return_indices=True)
    return semantics[rows, cols], instance[rows, cols]


def panoptic_from_rendering(
    outputs: dict[str, torch.Tensor],
    class_set: ClassSet,
    instances=None,
    slot_class_prior=None,
    min_segment_share: float = 0.0,
    snap: tuple[int, float, int] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(H, W) int64 class and (H, W) int64 3D instance id of a rendering (:func:`compute_panoptic_ids`;
    ``slot_class_prior``: the field's, :func:`slot_class_prior_of`; by default those :func:`render_image` put in
    the rendering).

    With ``instances`` (a :class:`panolift.edit.InstanceTable`) and the rendering's ``points``, a pixel's
    id is that of the piece of its slot where its ray ends: objects that share a slot get their own ids.
    ``min_segment_share`` > 0: thing segments under that share of the image's pixels are specks, merged
    into their surroundings (:func:`remove_specks`, ``RenderConfig.min_segment_share``); ``snap`` (radius in
    pixels, colour sigma, passes; :func:`label_snap_of`): then the segments snap to the edges of the
    rendered colour (:func:`snap_to_colour`)."""
    if slot_class_prior is None:
        slot_class_prior = outputs.get("slot_class_prior")
    semantics, instance = compute_panoptic_ids(
        outputs["semantics"], outputs.get("instance"), thing_mask_of(class_set), slot_class_prior
    )
    if instances is not None and "points" in outputs:
        shape = instance.shape
        instance = instances.ids_at(outputs["points"].reshape(-1, 3), instance.reshape(-1)).reshape(shape)
    semantics, instance = semantics.cpu().numpy().astype(np.int64), instance.cpu().numpy().astype(np.int64)
    semantics, instance = remove_specks(semantics, instance, min_segment_share * semantics.size)
    if snap is not None and snap[0] > 0:
        rgb = outputs["rgb"].clamp(0, 1).float().cpu().numpy()
        semantics, instance = snap_to_colour(semantics, instance, rgb, *snap)
    return semantics, instance


def label_snap_of(config: RenderConfig, width: int) -> tuple[int, float, int] | None:
    """(radius in pixels, colour sigma, passes) of :func:`snap_to_colour` for images ``width`` pixels
    wide (``RenderConfig.label_snap_radius`` is a share of the width; at least one pixel), or None when
    it is off."""
    if config.label_snap_radius <= 0 or config.label_snap_iterations <= 0:
        return None
    radius = max(1, round(config.label_snap_radius * width))
    return radius, config.label_snap_color, config.label_snap_iterations
