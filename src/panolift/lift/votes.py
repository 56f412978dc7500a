"""Label votes: the training views' 2D labels fused on the lifted surfaces in one pass, after training.

The semantic loss (confidence-weighted cross-entropy of the rendered class distribution) is smallest, at
each point x of a surface, when the field's distribution there is the weighted mean of the 2D label
distributions p_r of the rays r whose samples reach x, each weighted by its confidence c_r and its
rendering weight w_{r,i} at x:

    V(x) = sum_{r, i: x_{r,i} = x} w_{r,i} c_r p_r   (normalised)

The semantic head approximates that optimum with a smooth field and a finite number of steps: where the
labels of a region are split between two classes (a door labelled wall in a third of its views), its
classes can split along the region in its own way; with a short schedule (`quick`) its classes of small
and thin things are still forming. After training the geometry no longer changes, so the votes can be
summed exactly: every training ray (up to ``label_vote_rays``) is marched once, density only and without
gradients, and the w c p of the samples its heads are summed over are splatted (trilinearly) onto a
lattice of ``label_vote_voxels`` per side (the head grids' by default) over the field's box. The field
keeps the voted nodes (:meth:`~panolift.field.PanopticField.set_label_votes`) and blends their
distribution with the head's (``FieldConfig.label_votes``); renders, the viewer, edits and exports read
the blend, as they read the head. Fusing a suite room's rays (up to 2^20) takes 5-13 s on one thread of
the 2-core box, most of it the march (room 95: 10.5 s on one idle thread, 7.1 s on two); the lattice's
sums take nodes x classes floats while fusing (176 MB at 128 voxels a side and 21 classes), the field
keeps only the voted nodes (a tenth of them, about 10 MB).

The pass also counts the voting rays that end on no surface (opacity under a half): the share of what the
training views show as open (a window, the sky, the background beyond an unwalled scene). A rendered view
that shows more open pixels than that looks where the training views did not (`panolift render`'s
warning, :func:`panolift.runs.rendering.render_run`).
"""

from __future__ import annotations

import dataclasses
import logging
import math
from dataclasses import dataclass

import torch

from panolift.config import RenderConfig
from panolift.field.tensorf import lattice_corners, resolution_from_voxels
from panolift.render import render_rays, sampling_domain

from .batching import TrainingData, frame_targets, rays_for_pixels

log = logging.getLogger(__name__)

CHUNK_RAYS = 8192
"""Rays marched at once while fusing."""


@dataclass
class LabelVotes:
    """The voted nodes of a lattice of ``shape`` (X, Y, Z) nodes over a box: flat index (z Y + y) X + x
    (n,), vote mass (n,) and normalised class distribution (n, num_classes); ``open_share``: the share of
    the voting rays that end on no surface (opacity under a half)."""

    shape: tuple[int, int, int]
    nodes: torch.Tensor
    mass: torch.Tensor
    classes: torch.Tensor
    open_share: float = 0.0


def splat_votes(
    sums: torch.Tensor,  # (Z*Y*X, num_classes) accumulated in place
    shape: tuple[int, int, int],  # (X, Y, Z) nodes
    aabb: torch.Tensor,  # (2, 3)
    points: torch.Tensor,  # (n, 3)
    values: torch.Tensor,  # (n, num_classes)
) -> None:
    """Add each point's ``values`` to the 8 lattice nodes around it, with its trilinear weights (nodes at
    the box's corners and every (size / (shape - 1)) between; points outside are clamped to the box)."""
    for corner, weight in lattice_corners(points, aabb, shape):
        sums.index_add_(0, corner, weight[:, None] * values)


def vote_pixels(data: TrainingData, max_rays: int, generator: torch.Generator | None) -> list[torch.Tensor]:
    """The flat pixels of each training frame that vote: all of them when every frame's fit in
    ``max_rays``, else the same number of random ones in each (drawn with ``generator``)."""
    num_pixels = data.width * data.height
    per_frame = (
        num_pixels if data.num_frames * num_pixels <= max_rays else max(1, max_rays // data.num_frames)
    )
    picks = []
    for _ in range(data.num_frames):
        if per_frame >= num_pixels:
            picks.append(torch.arange(num_pixels))
        else:
            picks.append(torch.randperm(num_pixels, generator=generator)[:per_frame].sort().values)
    return picks


@torch.no_grad()
def fuse_label_votes(
    field,
    data: TrainingData,
    render: RenderConfig,
    voxels_per_side: int,
    max_rays: int,
    generator: torch.Generator | None = None,
    weight_threshold: float | None = None,
) -> LabelVotes:
    """Sum w c p of the training rays' head samples on a lattice of about ``voxels_per_side``^3 voxels over
    ``field.aabb`` (module docstring). Rays are marched as the training renders its heads (density only,
    samples at the step centres); unusable pixels and pixels whose labels are not lifted (confidence 0)
    do not vote."""
    training = field.training
    field.eval()  # the density read baked, as renders read it (the same values, faster)
    try:
        return _fuse(field, data, render, voxels_per_side, max_rays, generator, weight_threshold)
    finally:
        field.train(training)


def _fuse(field, data, render, voxels_per_side, max_rays, generator, weight_threshold) -> LabelVotes:
    aabb = field.aabb
    shape = resolution_from_voxels(aabb, voxels_per_side)
    num_classes = data.num_classes
    sums = torch.zeros(math.prod(shape), num_classes, device=aabb.device)
    # as whole images are rendered: early termination checked every image_march_segment steps (16 in
    # `fast`, not 64; the steps it skips weigh under the termination threshold): a fifth less time
    render = dataclasses.replace(render, march_segment=render.image_march_segment or render.march_segment)
    domain = sampling_domain(field, render, aabb.device)
    pixels_of = vote_pixels(data, max_rays, generator)
    rays = open_rays = 0
    for frame, pixels in enumerate(pixels_of):
        targets = frame_targets(data, frame, pixels)  # only the voting pixels decoded
        confidence = targets["confidence"].to(aabb.device)
        if data.usable is not None and data.stream is None:
            confidence = confidence * data.usable[frame].to(confidence).index_select(
                0, pixels.to(aabb.device)
            )
        voting = confidence > 0
        keep = pixels.to(aabb.device)[voting]
        if keep.numel() == 0:
            continue
        frames = torch.full_like(keep, frame)
        origins, dirs = rays_for_pixels(data, frames.to(data.K.device), keep.to(data.K.device))
        weighted = confidence[voting, None] * targets["probability"].to(aabb.device)[voting]
        for start in range(0, keep.shape[0], CHUNK_RAYS):
            end = start + CHUNK_RAYS
            out = render_rays(
                field, origins[start:end], dirs[start:end], render, outputs=(), return_head_samples=True,
                domain=domain, weight_threshold=weight_threshold,
            )  # fmt: skip
            rays += out["opacity"].shape[0]
            open_rays += int((out["opacity"] <= 0.5).sum())
            rows = out["head_rows"]
            if rows.numel() == 0:
                continue
            points = torch.addcmul(
                origins[start:end].index_select(0, rows),
                out["head_t"][:, None],
                dirs[start:end].index_select(0, rows),
            )
            values = out["head_weights"][:, None] * weighted[start:end].index_select(0, rows)
            splat_votes(sums, shape, aabb, points, values)
    mass = sums.sum(dim=1)
    nodes = torch.nonzero(mass > 0)[:, 0]
    mass = mass.index_select(0, nodes)
    classes = sums.index_select(0, nodes) / mass[:, None]
    return LabelVotes(shape, nodes, mass, classes, open_rays / max(rays, 1))


__all__ = ["LabelVotes", "fuse_label_votes", "splat_votes", "vote_pixels"]
