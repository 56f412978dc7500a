"""Depth that stays planar where the image is flat: a prior against fog and screens before plain walls.

A plain wall gives the colour loss nothing to place it by: a sheet of the wall's colour half-way to it, or
fog thinning towards it, explains every view that sees it against the wall itself (the suite's fresh room
118: rendered depth short of 0.8x the truth on a fifth of the pixels, the training views as much as the
test views). Where the wall meets something with texture (a corner, a door frame, an object) its depth is
known; in between, nothing but a prior can carry it.

The prior here: where a training image is flat (three pixels on a line, one 2D segment, colours within a
few grey levels of each other), the rendered surface is locally a plane. For a pinhole camera the inverse
depth 1/z of a plane is affine in the pixel coordinates, so its second difference along the line,
1/z(p - s) - 2/z(p) + 1/z(p + s), is zero for every plane whatever its tilt: a slanted wall, the floor and
the ceiling cost nothing, a sheet before the wall costs at its edge, and fog costs wherever its depth
wavers. Relative to the largest inverse depth of the three, the residual is the same in a small and a
large room, and bounded. Image edges and the 2D segments' edges switch it off, so objects keep their
silhouettes (the weight is exp(-g / ``flat``) with g the largest colour step between neighbouring pixels
of the three, 0 across a segment edge).

The rays of the triplets are rendered for their weights only (as the matched-depth rays), so the prior
costs density evaluations and no colour; the rendered depth is the expected distance over the weights,
turned into z by the ray's angle to the optical axis.
"""

from __future__ import annotations

import torch

from .batching import TrainingData, gather_rays


def sample_triplets(
    data: TrainingData, num_triplets: int, generator: torch.Generator, max_step: int
) -> dict[str, torch.Tensor]:
    """``num_triplets`` lines of three pixels (p - s d, p, p + s d) in random training frames, d along the
    rows or the columns, s drawn from 1..``max_step``: their rays (origins, dirs: (num_triplets * 3, 3), the
    three of a triplet in a row), ``frames`` (num_triplets,), flat ``pixels`` (num_triplets, 3), ``cos``
    (num_triplets * 3,) of each ray's angle to its camera's optical axis, the triplets' ``rgb``
    (num_triplets, 3, 3), ``segments`` (num_triplets, 3) and ``usable`` (num_triplets,). In-memory
    training data only (every pixel held; a streamed training goes without the prior)."""
    if data.streaming:
        raise ValueError("planar triplets need every pixel of the training frames in memory (not streaming)")
    device = generator.device
    width, height = data.width, data.height
    step = torch.randint(1, max(1, max_step) + 1, (num_triplets,), generator=generator, device=device)
    along_rows = torch.rand(num_triplets, generator=generator, device=device) < 0.5
    dx, dy = step * along_rows, step * ~along_rows
    # centres at least s from the border along the line: draw in [0, 1) and map into the valid span
    ux, uy = (torch.rand(num_triplets, 2, generator=generator, device=device)).unbind(-1)
    x = (dx + ux * (width - 2 * dx).clamp_min(1)).long().clamp(0, width - 1)
    y = (dy + uy * (height - 2 * dy).clamp_min(1)).long().clamp(0, height - 1)
    frames = torch.randint(data.num_frames, (num_triplets,), generator=generator, device=device)
    xs = torch.stack([x - dx, x, x + dx], dim=1).clamp(0, width - 1)
    ys = torch.stack([y - dy, y, y + dy], dim=1).clamp(0, height - 1)
    pixels = (ys * width + xs).reshape(-1).to(data.K.device)
    frames3 = frames.repeat_interleave(3).to(data.K.device)
    rays = gather_rays(data, frames3, pixels)
    axis = data.c2w[frames3, :3, 2]
    cos = (rays["dirs"] * axis / axis.norm(dim=-1, keepdim=True)).sum(dim=-1).clamp_min(1e-3)
    usable = torch.ones_like(pixels, dtype=torch.bool)
    if data.usable is not None:
        usable = data.usable[frames3, pixels]
    return {
        "frames": frames,
        "pixels": pixels.reshape(num_triplets, 3),
        "origins": rays["origins"],
        "dirs": rays["dirs"],
        "cos": cos,
        "rgb": rays["rgb"].reshape(num_triplets, 3, 3),
        "segments": rays["segments"].reshape(num_triplets, 3),
        "usable": usable.reshape(num_triplets, 3).all(dim=1),
    }


def flatness_weights(
    rgb: torch.Tensor, segments: torch.Tensor, usable: torch.Tensor, flat: float
) -> torch.Tensor:
    """(num_triplets,) in [0, 1]: exp(-g / ``flat``), g the largest step of any colour channel between
    neighbouring pixels of the triplet; 0 where the three are not of one 2D segment or not usable."""
    steps = (rgb[:, 1:] - rgb[:, :-1]).abs().amax(dim=(1, 2))
    same = (segments == segments[:, :1]).all(dim=1)
    return torch.exp(-steps / max(flat, 1e-6)) * (same & usable).to(rgb.dtype)


def compute_planarity_loss(
    weights: torch.Tensor,  # (num_triplets * 3, num_samples) rendering weights, a triplet's rays in a row
    t: torch.Tensor,  # (num_triplets * 3, num_samples) sample distances along the unit rays
    cos: torch.Tensor,  # (num_triplets * 3,) cosine of each ray to its optical axis
    flatness: torch.Tensor,  # (num_triplets,) weight of each triplet (:func:`flatness_weights`)
) -> torch.Tensor:
    """Mean over triplets of flatness * |q- - 2 q0 + q+| / max(q-, q0, q+), q = 1/z: the second difference
    of the inverse depth relative to the triplet's largest, 0 for any plane and at most 2 (a ray stopped at
    the near plane does not swamp the rest, and a step in depth either way keeps a gradient). z is the
    expected distance over the ray's weights (normalised by its opacity) times ``cos``; rays that hit
    nothing (opacity under 0.5) leave their triplet out."""
    opacity = weights.sum(dim=-1)
    distance = (weights * t).sum(dim=-1) / opacity.clamp_min(1e-6)
    z = (distance * cos).clamp_min(1e-4).reshape(-1, 3)
    hit = (opacity.detach() > 0.5).reshape(-1, 3).all(dim=1)
    q = 1.0 / z
    residual = (q[:, 0] - 2.0 * q[:, 1] + q[:, 2]).abs() / q.amax(dim=1)
    return (flatness * hit.to(flatness.dtype) * residual).mean() if residual.numel() else weights.sum() * 0.0


__all__ = ["compute_planarity_loss", "flatness_weights", "sample_triplets"]
