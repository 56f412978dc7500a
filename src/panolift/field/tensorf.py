"""TensoRF vector-matrix (VM) grids: a 3D feature volume factorised into plane x line products.

For component c and mode m (planes over axis pairs (0,1), (0,2), (1,2), lines along the remaining axis
2, 1, 0) the feature at a point x is  f_{m,c}(x) = P_{m,c}(x_a, x_b) * L_{m,c}(x_v).  The grids live in an
axis-aligned box; points are mapped to [-1, 1]^3 inside it and sampled bilinearly (align_corners=True, so
the voxel size is box_size / (resolution - 1)).
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch import nn

from .precision import run_mlp

MAT_MODES = ((0, 1), (0, 2), (1, 2))
VEC_MODES = (2, 1, 0)


def resolution_from_voxels(aabb: torch.Tensor, voxels_per_side: int) -> tuple[int, int, int]:
    """Per-axis resolution with about ``voxels_per_side**3`` voxels and cubic voxels for the box ``aabb``.

    voxel = (prod(size) / n^3)^(1/3);  res_a = max(2, round(size_a / voxel)).
    """
    size = (aabb[1] - aabb[0]).double()
    voxel = (size.prod() / voxels_per_side**3) ** (1.0 / 3.0)
    return tuple(max(2, int(round(float(s / voxel)))) for s in size)  # type: ignore[return-value]


MIN_POINTS_PER_THREAD = 2048
"""Lookups of fewer points than this per CPU thread are one grid_sample call (see :func:`grid_sample_points`)."""


def grid_sample_points(values: torch.Tensor, coords: torch.Tensor, **options) -> torch.Tensor:
    """Samples (C, num_points) of ``values`` (1, C, H, W) or (1, C, D, H, W) at ``coords`` (num_points, 2
    or 3) in grid_sample's [-1, 1] coordinates; ``options`` go to ``F.grid_sample``.

    Torch's CPU grid_sample (forward and backward) parallelises over the batch only, so over a batch of one
    it runs on a single thread (its backward, a scatter, costs about 5x the forward: 10 ms for 60k points
    on 8 channels). On the CPU the points are split into one chunk per thread, each read from a stride-0
    view of the same grid: the same values, and backward runs on every thread (the gradients of the views
    are summed; 60k points: 12 -> 7.8 ms on 2 threads; a `fast` training step's backward 51 -> 42 ms).
    Chunks of fewer than ``MIN_POINTS_PER_THREAD`` points cost more than they save (each view's gradient is
    a whole grid). One call on a GPU.
    """
    num_points, dims = coords.shape
    chunks = torch.get_num_threads() if values.device.type == "cpu" else 1
    chunks = max(1, min(chunks, num_points // MIN_POINTS_PER_THREAD))
    pad = (-num_points) % chunks
    if pad:
        coords = torch.cat([coords, coords[-1:].expand(pad, dims)])
    grid = coords.view(chunks, -1, *([1] * (dims - 1)), dims)  # (B, n, 1, 2) or (B, n, 1, 1, 3)
    source = values if chunks == 1 else values.expand(chunks, *values.shape[1:])
    out = F.grid_sample(source, grid, **options)  # (B, C, n, 1) or (B, C, n, 1, 1)
    out = out.reshape(chunks, values.shape[1], -1)
    return (out[0] if chunks == 1 else out.transpose(0, 1).reshape(values.shape[1], -1))[:, :num_points]


def bilinear_lookup(values: torch.Tensor, coords: torch.Tensor) -> torch.Tensor:
    """Bilinear samples (C, num_points) of ``values`` (1, C, H, W) at ``coords`` (num_points, 2) in
    [-1, 1] (x along W, y along H; align_corners=True), as ``F.grid_sample`` (in a chunk per CPU thread,
    :func:`grid_sample_points`)."""
    return grid_sample_points(values, coords, align_corners=True)


def trilinear_lookup(volume: torch.Tensor, coords: torch.Tensor) -> torch.Tensor:
    """Trilinear samples (C, num_points) of ``volume`` (1, C, Z, Y, X) at ``coords`` (num_points, 3) in
    [-1, 1] ((x, y, z) along X, Y, Z; align_corners=True), in a chunk per CPU thread
    (:func:`grid_sample_points`)."""
    return grid_sample_points(volume, coords, align_corners=True)


def lattice_corners(
    points: torch.Tensor, aabb: torch.Tensor, shape: tuple[int, int, int]
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """The 8 nodes around each of ``points`` (num_points, 3) in a lattice of ``shape`` (X, Y, Z) nodes over
    ``aabb`` (the box's corners are nodes, as the grids' with align_corners; points outside are clamped
    to the box): 8 x (flat node index (z Y + y) X + x, trilinear weight), each (num_points,)."""
    x, y, _ = shape
    size = torch.tensor(shape, device=points.device)
    u = ((points - aabb[0]) / (aabb[1] - aabb[0])).clamp(0.0, 1.0) * (size - 1).to(points.dtype)
    low = u.floor().long().minimum(size - 2)
    frac = u - low.to(points.dtype)
    for dz in (0, 1):
        for dy in (0, 1):
            for dx in (0, 1):
                weight = (
                    (frac[:, 0] if dx else 1.0 - frac[:, 0])
                    * (frac[:, 1] if dy else 1.0 - frac[:, 1])
                    * (frac[:, 2] if dz else 1.0 - frac[:, 2])
                )
                yield ((low[:, 2] + dz) * y + low[:, 1] + dy) * x + low[:, 0] + dx, weight


def normalize_to_box(points: torch.Tensor, aabb: torch.Tensor) -> torch.Tensor:
    """Map points (num_points, 3) in the box ``aabb`` (2, 3) to [-1, 1]^3: u = 2 (x - min) / (max - min) - 1."""
    return (points - aabb[0]) / (aabb[1] - aabb[0]) * 2.0 - 1.0


class TensorVM(nn.Module):
    """Three plane/line pairs of ``num_components`` channels each; features are the 3*C products."""

    def __init__(self, resolution: tuple[int, int, int], num_components: int, init_scale: float = 0.1):
        super().__init__()
        self.num_components = num_components
        self.planes = nn.ParameterList(
            [
                nn.Parameter(init_scale * torch.randn(1, num_components, resolution[b], resolution[a]))
                for a, b in MAT_MODES
            ]
        )
        self.lines = nn.ParameterList(
            [nn.Parameter(init_scale * torch.randn(1, num_components, resolution[v], 1)) for v in VEC_MODES]
        )

    @property
    def resolution(self) -> tuple[int, int, int]:
        return (self.planes[0].shape[3], self.planes[0].shape[2], self.planes[1].shape[2])

    @property
    def num_features(self) -> int:
        return 3 * self.num_components

    def forward(self, unit_points: torch.Tensor) -> torch.Tensor:
        """Features (num_points, 3*C) at points (num_points, 3) in [-1, 1]^3 (box coordinates)."""
        feats = []
        for mode, ((a, b), v) in enumerate(zip(MAT_MODES, VEC_MODES, strict=True)):
            line_coords = torch.stack([torch.zeros_like(unit_points[:, v]), unit_points[:, v]], dim=-1)
            plane = bilinear_lookup(self.planes[mode], unit_points[:, (a, b)])  # (C, N)
            feats.append(plane * bilinear_lookup(self.lines[mode], line_coords))
        return torch.cat(feats, dim=0).T

    @torch.no_grad()
    def node_sums(self) -> torch.Tensor:
        """The sum of the 3*C features at every node of the lattice, (1, 1, Z, Y, X) (X, Y, Z =
        :attr:`resolution`), for :func:`trilinear_lookup`.

        Within a voxel each feature P(x_a, x_b) * L(x_v) is bilinear times linear, so trilinear, and so is
        their sum: the trilinear interpolation of the node sums IS the factorised sum at every point (to
        float rounding), in one 3D lookup of one channel instead of six lookups of C channels. Computed
        from the planes and lines directly, one matrix product a mode."""
        p0, p1, p2 = (plane[0] for plane in self.planes)  # (C, Y, X), (C, Z, X), (C, Z, Y)
        l0, l1, l2 = (line[0, :, :, 0] for line in self.lines)  # (C, Z), (C, Y), (C, X)
        volume = torch.einsum("cyx,cz->zyx", p0, l0)
        volume += torch.einsum("czx,cy->zyx", p1, l1)
        volume += torch.einsum("czy,cx->zyx", p2, l2)
        return volume[None, None].contiguous()

    def total_variation(self) -> torch.Tensor:
        """Mean squared finite differences of the planes (both axes) and lines (TensoRF's TV regulariser)."""
        return compute_tv_loss(list(self.planes), list(self.lines))

    @torch.no_grad()
    def resample(
        self, old_aabb: torch.Tensor, new_aabb: torch.Tensor, resolution: tuple[int, int, int]
    ) -> None:
        """Resample every plane and line onto ``resolution`` voxels over ``new_aabb`` (upsampling or shrinking).

        New node i on axis a sits at x = new_min + (new_max - new_min) i / (n - 1); it is read bilinearly
        from the old grid at u = 2 (x - old_min) / (old_max - old_min) - 1.
        """
        coords = [
            normalize_to_box(
                torch.linspace(0, 1, n, device=old_aabb.device, dtype=old_aabb.dtype)[:, None]
                * (new_aabb[1] - new_aabb[0])
                + new_aabb[0],
                old_aabb,
            )[:, a]
            for a, n in enumerate(resolution)
        ]
        for mode, ((a, b), v) in enumerate(zip(MAT_MODES, VEC_MODES, strict=True)):
            gy, gx = torch.meshgrid(coords[b], coords[a], indexing="ij")
            grid = torch.stack([gx, gy], dim=-1)[None]
            self.planes[mode] = nn.Parameter(
                F.grid_sample(self.planes[mode].data, grid, align_corners=True, padding_mode="border")
            )
            line_grid = torch.stack([torch.zeros_like(coords[v]), coords[v]], dim=-1).view(1, -1, 1, 2)
            self.lines[mode] = nn.Parameter(
                F.grid_sample(self.lines[mode].data, line_grid, align_corners=True, padding_mode="border")
            )


def compute_tv_loss(planes: list[torch.Tensor], lines: list[torch.Tensor]) -> torch.Tensor:
    """TV = sum_m mean((P[i+1,j]-P[i,j])^2) + mean((P[i,j+1]-P[i,j])^2) + mean((L[i+1]-L[i])^2)."""
    total = planes[0].new_zeros(())
    for plane in planes:
        total = total + (plane[..., 1:, :] - plane[..., :-1, :]).pow(2).mean()
        total = total + (plane[..., :, 1:] - plane[..., :, :-1]).pow(2).mean()
    for line in lines:
        total = total + (line[..., 1:, :] - line[..., :-1, :]).pow(2).mean()
    return total


def encode_positions(x: torch.Tensor, num_freqs: int) -> torch.Tensor:
    """NeRF positional encoding: [sin(2^k pi x), cos(2^k pi x)] for k < num_freqs, (N, D) -> (N, 2 K D)."""
    if num_freqs == 0:
        return x.new_zeros(x.shape[0], 0)
    freqs = (2.0 ** torch.arange(num_freqs, device=x.device, dtype=x.dtype)) * math.pi
    scaled = (x[:, None, :] * freqs[:, None]).reshape(x.shape[0], num_freqs * x.shape[1])
    return torch.cat([torch.sin(scaled), torch.cos(scaled)], dim=-1)


class InwardClamp(torch.autograd.Function):
    """``x.clamp(-bound, bound)`` whose backward passes, beyond the bound, only the gradient that pulls a
    value back inside (a descent step that would push it further out gets zero; one that pulls it back
    gets the full gradient). A logit that has drifted out stays trainable at the bound's slope, where a
    plain clamp would give it no gradient at all and an unbounded sigmoid a vanishing one."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, bound: float) -> torch.Tensor:  # noqa: D102
        ctx.save_for_backward(x)
        ctx.bound = bound
        return x.clamp(-bound, bound)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # noqa: D102
        (x,) = ctx.saved_tensors
        # descent moves x by -grad: above the bound keep grad > 0 (x falls), below keep grad < 0 (x rises)
        outward = ((x > ctx.bound) & (grad < 0)) | ((x < -ctx.bound) & (grad > 0))
        return grad.masked_fill(outward, 0.0), None


class ColorMLP(nn.Module):
    """c = sigmoid(MLP([f, d, PE(f), PE(d)])): TensoRF's MLPRender_Fea (two hidden layers)."""

    def __init__(
        self, num_features: int, width: int, pe_features: int, pe_view: int, view: bool = True,
        logit_bound: float = 0.0,
    ):  # fmt: skip
        super().__init__()
        self.pe_features, self.pe_view, self.view = pe_features, pe_view, view
        self.logit_bound = logit_bound  # FieldConfig.color_logit_bound (0: none)
        in_dim = num_features + 3 + 2 * pe_features * num_features + 2 * pe_view * 3
        self.net = nn.Sequential(
            nn.Linear(in_dim, width), nn.ReLU(inplace=True), nn.Linear(width, width), nn.ReLU(inplace=True),
            nn.Linear(width, 3),
        )  # fmt: skip
        nn.init.zeros_(self.net[-1].bias)

    def forward(self, features: torch.Tensor, dirs: torch.Tensor) -> torch.Tensor:
        """(num_points, F) features and (num_points, 3) unit directions -> (num_points, 3) rgb in [0, 1].
        Without ``view`` the directions are zeroed: one colour a point, whichever camera looks at it."""
        if not self.view:
            dirs = torch.zeros_like(dirs)
        x = torch.cat(
            [
                features,
                dirs,
                encode_positions(features, self.pe_features),
                encode_positions(dirs, self.pe_view),
            ],
            dim=-1,
        )
        logits = run_mlp(self.net, x)
        if self.logit_bound > 0:
            logits = InwardClamp.apply(logits, self.logit_bound)
        return torch.sigmoid(logits)
