"""Depths matched between training views: a prior on the geometry that needs only the images and poses.

A radiance field can explain every training view with a "screen" just in front of its camera instead of
the room's surfaces, above all in a dim, low-contrast room (the suite's seed 0: rendered depth a sixth of
the truth). The colour loss cannot tell the two apart there; the views' own texture can. This module does
what COLMAP's point triangulation does with known poses, on the training images at the working size:

1. In each frame, the most textured pixel of every ``cell`` x ``cell`` block (largest standard deviation of
   its patch, above ``min_std``) is a candidate; larger images get larger blocks, at most
   ``max_candidates`` a frame, so the time grows with the frames, not their pixels.
2. A plane sweep: for ``num_depths`` depths evenly spaced in inverse depth between the near plane and the
   exit of the box, the candidate's patch (``patch`` x ``patch`` pixels, every ``dilation``-th) is placed
   on the plane parallel to the image at that depth and projected into the frame's ``neighbours`` nearest
   views that look the same way (optical axes within ``max_angle`` degrees, camera centres at least
   ``min_baseline`` apart); each depth scores the mean normalised cross-correlation (NCC) of the patch with
   the neighbours' pixels there. NCC ignores gain and offset, so a dim room matches as well as a bright one.
3. A candidate is kept when its best mean NCC is at least ``min_score``, each neighbour alone peaks within
   one depth step of the same depth (a repeated texture peaks elsewhere in a view from another place), and
   no depth farther than two steps scores within ``min_margin`` of the best. The depth is refined by a
   parabola through the best score and its two neighbours (in inverse depth).

The result (:class:`MatchedDepths`) is each kept pixel's distance along its unit ray (normalised units,
the renderer's t) and its score. :func:`panolift.lift.losses.compute_matched_depth_loss` asks the field to
put each such ray's weight within a band around that distance, which clears a screen in front of the
camera wherever one of these rays crosses it.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from panolift.render import intersect_aabb

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MatchConfig:
    """How pixels are matched (module docstring). Distances are in normalised units (1 unit is 5-11 m in
    the suite's rooms; the near plane, 0.05, about half a metre)."""

    cell: int = 6  # one candidate per cell x cell pixels ...
    max_candidates: int = 800  # ... or larger cells, so that a frame has at most this many candidates
    patch: int = 5  # patch of patch x patch samples ...
    dilation: int = 2  # ... every dilation-th pixel (a 9 x 9 footprint)
    min_std: float = 0.004  # patch standard deviation (grey levels in [0, 1]) of a candidate
    num_depths: int = 64  # depths of the sweep, even in inverse depth
    neighbours: int = 2  # views each frame is matched against
    max_angle: float = 35.0  # degrees between the optical axes of a frame and its neighbours
    min_baseline: float = 0.01  # camera centres at least this far apart
    min_score: float = 0.9  # mean NCC of a kept match
    min_margin: float = 0.05  # the best depth beats every depth two steps away by this much


@dataclass
class MatchedDepths:
    """Pixels of training frames whose depth was matched between views."""

    frames: torch.Tensor  # (M,) long, index into the training frames
    pixels: torch.Tensor  # (M,) long, flat pixel y * width + x
    depth: torch.Tensor  # (M,) float, distance along the unit ray through the pixel centre (normalised)
    score: torch.Tensor  # (M,) float, mean NCC at the matched depth

    def __len__(self) -> int:
        return int(self.frames.shape[0])

    def to(self, device: torch.device | str) -> MatchedDepths:
        return MatchedDepths(*(t.to(device) for t in (self.frames, self.pixels, self.depth, self.score)))

    def tensors(self) -> dict[str, torch.Tensor]:
        """For checkpoints: a resumed training uses exactly the matches it started with."""
        return {
            "matched.frames": self.frames.cpu(),
            "matched.pixels": self.pixels.cpu(),
            "matched.depth": self.depth.cpu(),
            "matched.score": self.score.cpu(),
        }

    @staticmethod
    def from_tensors(tensors: dict[str, torch.Tensor]) -> MatchedDepths | None:
        """The matches of :meth:`tensors`, or None when the checkpoint has none."""
        if "matched.frames" not in tensors:
            return None
        parts = [tensors[f"matched.{k}"] for k in ("frames", "pixels", "depth", "score")]
        if len({p.shape for p in parts}) != 1 or parts[0].ndim != 1:
            raise ValueError(
                f"checkpoint: matched depths of unequal shapes {[tuple(p.shape) for p in parts]}"
            )
        return MatchedDepths(parts[0].long(), parts[1].long(), parts[2].float(), parts[3].float())

    @staticmethod
    def empty() -> MatchedDepths:
        long, flt = torch.zeros(0, dtype=torch.long), torch.zeros(0)
        return MatchedDepths(long, long.clone(), flt, flt.clone())


def grayscale(rgb: np.ndarray | torch.Tensor) -> torch.Tensor:
    """(..., H, W, 3) colours (uint8 or float in [0, 1]) -> (..., H, W) float32 luma in [0, 1]."""
    rgb = torch.as_tensor(rgb)
    scale = 1.0 / 255.0 if rgb.dtype == torch.uint8 else 1.0
    weights = torch.tensor([0.299, 0.587, 0.114], dtype=torch.float32) * scale
    return rgb.float() @ weights


def choose_neighbours(c2w: torch.Tensor, config: MatchConfig) -> torch.Tensor:
    """(num_frames, neighbours) long: for each frame, the nearest frames (camera centres at least
    ``min_baseline`` apart) whose optical axes lie within ``max_angle`` degrees of its own; -1 where fewer
    qualify."""
    centres, axes = c2w[:, :3, 3].double(), c2w[:, :3, 2].double()
    distance = torch.cdist(centres, centres)
    cos = axes @ axes.T
    ok = (distance >= config.min_baseline) & (cos >= math.cos(math.radians(config.max_angle)))
    key = torch.where(ok, distance, torch.full_like(distance, math.inf))
    count = min(config.neighbours, max(c2w.shape[0] - 1, 1))
    values, order = key.topk(count, dim=1, largest=False)
    return torch.where(torch.isfinite(values), order, torch.full_like(order, -1))


def patch_offsets(config: MatchConfig) -> torch.Tensor:
    """(Q, 2) float pixel offsets (dx, dy) of a patch."""
    half = config.patch // 2
    steps = torch.arange(-half, half + 1, dtype=torch.float32) * config.dilation
    dy, dx = torch.meshgrid(steps, steps, indexing="ij")
    return torch.stack([dx.reshape(-1), dy.reshape(-1)], dim=-1)


def candidate_pixels(gray: torch.Tensor, config: MatchConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """The most textured pixel (x, y) of each ``cell`` x ``cell`` block of one frame (H, W) whose patch
    lies inside the image and has a standard deviation of at least ``min_std``: (N, 2) long, and the
    patch values (N, Q)."""
    height, width = gray.shape
    reach = (config.patch // 2) * config.dilation
    offsets = patch_offsets(config).long()
    # standard deviation of each pixel's (dilated) patch, by shifting the image
    inner = gray[reach : height - reach, reach : width - reach]
    if inner.numel() == 0:
        return torch.zeros(0, 2, dtype=torch.long), torch.zeros(0, offsets.shape[0])
    shifted = torch.stack(
        [
            gray[reach + dy : height - reach + dy, reach + dx : width - reach + dx]
            for dx, dy in offsets.tolist()
        ]
    )
    std = shifted.std(dim=0, unbiased=False)  # (h, w) over the inner region
    cell = max(config.cell, math.ceil(math.sqrt(std.numel() / max(1, config.max_candidates))))
    h, w = (std.shape[0] // cell) * cell, (std.shape[1] // cell) * cell
    blocks = (
        std[:h, :w].reshape(h // cell, cell, w // cell, cell).permute(0, 2, 1, 3).reshape(-1, cell * cell)
    )
    best, where = blocks.max(dim=1)
    by, bx = torch.meshgrid(torch.arange(h // cell), torch.arange(w // cell), indexing="ij")
    ys = by.reshape(-1) * cell + where // cell
    xs = bx.reshape(-1) * cell + where % cell
    keep = best >= config.min_std
    ys, xs = ys[keep], xs[keep]
    values = shifted[:, ys, xs].T.contiguous()  # (N, Q)
    return torch.stack([xs + reach, ys + reach], dim=-1), values


def _ncc(reference: torch.Tensor, samples: torch.Tensor) -> torch.Tensor:
    """Normalised cross-correlation of (N, Q) reference patches with (N, D, Q) samples -> (N, D)."""
    a = reference - reference.mean(dim=-1, keepdim=True)
    b = samples - samples.mean(dim=-1, keepdim=True)
    num = (a[:, None, :] * b).sum(dim=-1)
    den = (a.square().sum(dim=-1)[:, None] * b.square().sum(dim=-1)).clamp_min(1e-12).sqrt()
    return num / den


def match_frame(
    frame: int,
    gray: torch.Tensor,  # (F, H, W)
    K: torch.Tensor,  # (3, 3)
    c2w: torch.Tensor,  # (F, 4, 4) normalised
    neighbours: torch.Tensor,  # (n,) long, -1 none
    aabb: torch.Tensor,  # (2, 3)
    near: float,
    config: MatchConfig,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Matched pixels of one frame: (M,) flat pixels, depths along the unit rays, scores."""
    nothing = (torch.zeros(0, dtype=torch.long), torch.zeros(0), torch.zeros(0))
    neighbours = neighbours[neighbours >= 0]
    if neighbours.numel() == 0:
        return nothing
    height, width = gray.shape[1:]
    reach = (config.patch // 2) * config.dilation
    xy, reference = candidate_pixels(gray[frame], config)
    if xy.shape[0] == 0:
        return nothing
    K_inv = torch.linalg.inv(K.double()).float()
    R, o = c2w[frame, :3, :3], c2w[frame, :3, 3]
    centre = xy.float() + 0.5
    cam_dir = torch.cat([centre, torch.ones(len(centre), 1)], dim=-1) @ K_inv.T  # (N, 3), z = 1
    ray_len = cam_dir.norm(dim=-1)  # t = z * ray_len along the unit ray
    t_near, t_far = intersect_aabb(o.expand(len(centre), 3), (cam_dir / ray_len[:, None]) @ R.T, aabb)
    t_near = t_near.clamp_min(near)
    good = t_far > t_near * 1.05
    xy, reference, cam_dir, ray_len = xy[good], reference[good], cam_dir[good], ray_len[good]
    t_near, t_far = t_near[good], t_far[good]
    if xy.shape[0] == 0:
        return nothing
    D = config.num_depths
    s = torch.linspace(0.0, 1.0, D)
    inv = (1.0 / t_near)[:, None] + s[None, :] * (1.0 / t_far - 1.0 / t_near)[:, None]  # (N, D) 1/t
    z = 1.0 / (inv * ray_len[:, None])  # (N, D) depth along the optical axis
    patch = centre[:, None, :] + patch_offsets(config)[None]  # (N, Q, 2)
    patch_cam = torch.cat([patch, torch.ones(*patch.shape[:2], 1)], dim=-1) @ K_inv.T  # (N, Q, 3), z = 1
    n, q = patch_cam.shape[:2]
    # grid_sample's coordinates in [-1, 1] from pixel coordinates: x / width * 2 - 1
    to_grid = torch.tensor([[2.0 / width, 0.0, -1.0], [0.0, 2.0 / height, -1.0], [0.0, 0.0, 1.0]]) @ K
    scores = []
    for j in neighbours.tolist():
        Rj, oj = c2w[j, :3, :3], c2w[j, :3, 3]
        # the patch's point at depth z, in the neighbour's grid coordinates (homogeneous): z * a + b
        a = (patch_cam @ (to_grid @ Rj.T @ R).T)[:, None]  # (N, 1, Q, 3)
        b = to_grid @ (Rj.T @ (o - oj))  # (3,)
        h = torch.addcmul(b, z[:, :, None, None], a)  # (N, D, Q, 3)
        zj = h[..., 2]
        grid = h[..., :2] / zj.clamp_min(1e-6)[..., None]
        # the patch's centre (offset 0, the middle of the patch) a patch's reach + 1 pixel inside the border
        centre_grid, centre_z = grid[:, :, q // 2], zj[:, :, q // 2]
        limit = 1.0 - 2.0 * (reach + 1) * torch.tensor([1.0 / width, 1.0 / height])
        inside = (centre_z > 1e-4) & (centre_grid.abs() <= limit).all(dim=-1)  # (N, D)
        sampled = F.grid_sample(
            gray[j][None, None], grid.reshape(1, n * D, q, 2), mode="bilinear", align_corners=False
        ).reshape(n, D, q)
        ncc = _ncc(reference, sampled)
        scores.append(torch.where(inside, ncc, torch.full_like(ncc, -1.0)))
    per_view = torch.stack(scores)  # (n, N, D)
    mean = per_view.mean(dim=0)
    best_score, best = mean.max(dim=1)
    keep = best_score >= config.min_score
    # each neighbour alone peaks at the same depth (within one step)
    keep &= ((per_view.argmax(dim=2) - best[None]).abs() <= 1).all(dim=0)
    # no other depth scores nearly as well (a repeated texture, or a flat patch)
    index = torch.arange(D)[None, :]
    far_off = (index - best[:, None]).abs() > 2
    runner_up = torch.where(far_off, mean, torch.full_like(mean, -2.0)).max(dim=1).values
    keep &= runner_up <= best_score - config.min_margin
    keep &= (best > 0) & (best < D - 1)  # a peak at either end of the sweep is not a peak
    # parabola through the peak, in the sweep's (inverse depth) coordinate
    lo = mean.gather(1, (best - 1).clamp_min(0)[:, None])[:, 0]
    hi = mean.gather(1, (best + 1).clamp_max(D - 1)[:, None])[:, 0]
    curvature = lo - 2 * best_score + hi
    shift = torch.where(curvature < 0, 0.5 * (lo - hi) / curvature.clamp_max(-1e-9), torch.zeros_like(lo))
    position = (best.float() + shift.clamp(-0.5, 0.5)) / (D - 1)
    inv_t = (1.0 / t_near) + position * (1.0 / t_far - 1.0 / t_near)
    depth = 1.0 / inv_t
    flat = xy[:, 1] * width + xy[:, 0]
    return flat[keep], depth[keep], best_score[keep]


def match_depths(
    images: np.ndarray | torch.Tensor,  # (F, H, W, 3) uint8 or float in [0, 1], or (F, H, W) grey
    K: torch.Tensor,  # (3, 3) at the images' size
    c2w: torch.Tensor,  # (F, 4, 4) normalised, OpenCV
    aabb: torch.Tensor,  # (2, 3) the box the field spans
    near: float,
    config: MatchConfig,
    usable: torch.Tensor | None = None,  # (F, H*W) bool
) -> MatchedDepths:
    """Matched depths of every frame (module docstring); pixels outside ``usable`` are left out."""
    start = time.perf_counter()
    gray = torch.as_tensor(images).float() if images.ndim == 3 else grayscale(images)
    c2w, K, aabb = c2w.float().cpu(), K.float().cpu(), aabb.float().cpu()
    neighbours = choose_neighbours(c2w, config)
    parts = []
    for frame in range(gray.shape[0]):
        pixels, depth, score = match_frame(frame, gray, K, c2w, neighbours[frame], aabb, near, config)
        if usable is not None and pixels.numel():
            ok = usable[frame].cpu()[pixels]
            pixels, depth, score = pixels[ok], depth[ok], score[ok]
        parts.append((torch.full_like(pixels, frame), pixels, depth, score))
    if not parts or sum(p[0].numel() for p in parts) == 0:
        log.info("matched depths: none found in %d frames", gray.shape[0])
        return MatchedDepths.empty()
    matched = MatchedDepths(*(torch.cat([p[i] for p in parts]) for i in range(4)))
    log.info(
        "matched depths: %d pixels in %d frames (%.1f a frame, %.1f s)",
        len(matched), gray.shape[0], len(matched) / gray.shape[0], time.perf_counter() - start,
    )  # fmt: skip
    return matched


__all__ = [
    "MatchedDepths",
    "candidate_pixels",
    "choose_neighbours",
    "grayscale",
    "match_depths",
    "match_frame",
]
