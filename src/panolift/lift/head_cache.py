"""The heads' samples of every training pixel, kept once the geometry is frozen (a head phase).

With gradient blocking the semantic and instance heads never change the density, so in a head phase
(``train.head_steps``) the samples each training ray's heads are summed over, and their weights, are the
same at every step. :class:`HeadSampleCache` marches a pixel's ray once, the first time a batch draws it
(density only, no gradients, the samples at the step centres), keeps the distances and the renormalised
weights of its at most ``k`` head samples, and from then on renders the heads on those samples alone: a
head step is then a lookup, the heads' grids and MLPs, and their backward pass, with no march and no density.

Keys are flat pixel indices of the in-memory training frames (frame x pixels + pixel). The cache holds
2 x k floats a pixel; :func:`head_cache_bytes` says how much, and the trainer marches as before when a
scene streams its frames or the cache would pass its memory budget.
"""

from __future__ import annotations

import torch

from panolift.config import RenderConfig
from panolift.render import accumulate_sparse, render_rays
from panolift.render.renderer import evaluate_outputs


def head_samples_per_ray(config: RenderConfig) -> int:
    """How many samples a ray's heads are summed over (0: unbounded, no cache possible)."""
    caps = [c for c in (config.max_head_samples_per_ray, config.max_evaluated_per_ray) if c > 0]
    return min(caps) if caps else 0


def head_cache_bytes(num_pixels: int, k: int) -> int:
    """Memory of a cache over ``num_pixels`` training pixels with ``k`` samples each."""
    return num_pixels * (2 * k * 4 + 1)


class HeadSampleCache:
    """Per training pixel: the distances (``t``) and renormalised weights (``w``, 0 = no sample) of its
    heads' samples, filled on first use (module docstring)."""

    def __init__(self, num_pixels: int, k: int, device: torch.device | str = "cpu"):
        if k <= 0:
            raise ValueError("HeadSampleCache: the heads' samples per ray must be bounded (k > 0)")
        self.k = k
        self.t = torch.zeros(num_pixels, k, device=device)
        self.w = torch.zeros(num_pixels, k, device=device)
        self.filled = torch.zeros(num_pixels, dtype=torch.bool, device=device)

    @property
    def fill_fraction(self) -> float:
        return float(self.filled.float().mean())

    @torch.no_grad()
    def fill(
        self, field, config: RenderConfig, origins: torch.Tensor, dirs: torch.Tensor, keys: torch.Tensor,
        weight_threshold: float | None = None,
    ) -> None:  # fmt: skip
        """March the rays of ``keys`` not yet cached (density only) and keep their heads' samples."""
        missing = ~self.filled[keys]
        if not bool(missing.any()):
            return
        keys_m, first = _unique_first(keys[missing])
        origins_m, dirs_m = origins[missing][first], dirs[missing][first]
        out = render_rays(
            field, origins_m, dirs_m, config, weight_threshold=weight_threshold, outputs=(),
            return_head_samples=True,
        )  # fmt: skip
        rows, t, w = out["head_rows"], out["head_t"], out["head_weights"]
        order = torch.argsort(rows, stable=True)
        rows, t, w = rows[order], t[order], w[order]
        counts = torch.bincount(rows, minlength=keys_m.shape[0])
        starts = torch.cumsum(counts, 0) - counts
        slot = torch.arange(rows.shape[0], device=rows.device) - starts[rows]
        keep = slot < self.k
        table_t = torch.zeros(keys_m.shape[0], self.k, device=self.t.device)
        table_w = torch.zeros_like(table_t)
        table_t[rows[keep], slot[keep]] = t[keep].to(table_t)
        table_w[rows[keep], slot[keep]] = w[keep].to(table_w)
        self.t[keys_m], self.w[keys_m], self.filled[keys_m] = table_t, table_w, True

    def render(
        self, field, config: RenderConfig, origins: torch.Tensor, dirs: torch.Tensor, keys: torch.Tensor,
        heads: tuple[str, ...], weight_threshold: float | None = None,
    ) -> dict[str, torch.Tensor]:  # fmt: skip
        """The heads (``heads`` of "semantics", "instance") rendered on the cached samples of ``keys``' rays
        (filled first where missing), as :func:`~panolift.render.render_rays` with gradient blocking
        renders them; also depth (along the ray) and opacity of those samples."""
        self.fill(field, config, origins, dirs, keys, weight_threshold)
        t, w = self.t[keys], self.w[keys]
        rows, cols = (w > 0).nonzero(as_tuple=True)
        points = origins[rows] + t[rows, cols, None] * dirs[rows]
        weights = w[rows, cols]
        out = evaluate_outputs(field, points, dirs[rows], heads)
        result = {"depth": (w * t).sum(dim=-1), "opacity": w.sum(dim=-1)}
        num_rays = keys.shape[0]
        if "semantics" in heads and out.semantics is not None:
            result["semantics"] = accumulate_sparse(weights, out.semantics, rows, num_rays)
        if "instance" in heads and out.instance is not None:
            result["instance"] = accumulate_sparse(weights, out.instance, rows, num_rays)
        return result


def _unique_first(keys: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Unique ``keys`` and the index of the first occurrence of each."""
    unique, inverse = torch.unique(keys, return_inverse=True)
    first = torch.full((unique.shape[0],), keys.shape[0], dtype=torch.long, device=keys.device)
    first = first.scatter_reduce(0, inverse, torch.arange(keys.shape[0], device=keys.device), reduce="amin")
    return unique, first
