"""Whole images at any resolution and aspect, rendered in chunks; panoptic labels from a rendering."""

from __future__ import annotations

import numpy as np
import torch

from panolift.config import RenderConfig
from panolift.scene import ClassSet, SceneNormalization, generate_rays

from .renderer import render_rays, sampling_domain


def _field_device(field) -> torch.device:
    for tensor in list(field.parameters()) + list(field.buffers()):
        return tensor.device
    return torch.device("cpu")


@torch.no_grad()
def render_image(
    field,
    K: np.ndarray | torch.Tensor,
    c2w: np.ndarray | torch.Tensor,
    width: int,
    height: int,
    normalization: SceneNormalization | None = None,
    config: RenderConfig | None = None,
) -> dict[str, torch.Tensor]:
    """Render one view. ``K`` (3, 3) is for ``width`` x ``height``; ``c2w`` (4, 4) is in WORLD units (OpenCV).

    The pose is normalised with ``normalization`` (default: ``field.normalization``); ``config`` defaults
    to ``field.render_config`` (the run's settings, set by ``load_run``), else RenderConfig(). Returns tensors on
    the field's device: rgb (H, W, 3), depth (H, W) (z-depth in world units), opacity (H, W),
    semantics (H, W, num_classes) and instance (H, W, num_slots) (the rendered distributions; rendered
    logits for an unbounded field).
    """
    normalization = normalization if normalization is not None else getattr(field, "normalization", None)
    if normalization is None:
        raise ValueError("render_image needs the scene normalisation (pass normalization=...)")
    config = config or getattr(field, "render_config", None) or RenderConfig()
    device = _field_device(field)
    c2w_n = torch.as_tensor(
        normalization.apply_to_poses(np.asarray(c2w, dtype=np.float64)), dtype=torch.float32
    )
    K = torch.as_tensor(np.asarray(K, dtype=np.float64), dtype=torch.float32)
    origins, dirs = generate_rays(K, c2w_n, width, height)
    origins, dirs = origins.to(device), dirs.to(device)
    cos_z = dirs @ c2w_n[:3, 2].to(device)  # t along a unit ray -> z-depth
    domain = sampling_domain(field, config, device)
    chunks: dict[str, list[torch.Tensor]] = {}
    for i in range(0, origins.shape[0], config.chunk_rays):
        out = render_rays(
            field, origins[i : i + config.chunk_rays], dirs[i : i + config.chunk_rays], config, domain=domain
        )
        for key, value in out.items():
            if value.ndim > 0:
                chunks.setdefault(key, []).append(value)
    result = {
        key: torch.cat(parts).reshape(height, width, *parts[0].shape[1:]) for key, parts in chunks.items()
    }
    result["depth"] = result["depth"] * cos_z.reshape(height, width) / normalization.scale
    return result


def panoptic_from_rendering(
    outputs: dict[str, torch.Tensor], class_set: ClassSet
) -> tuple[np.ndarray, np.ndarray]:
    """Per-pixel class and 3D instance id from a rendering.

    class = argmax_{k >= 1} semantics (void excluded: it gets no training weight, so its probability only
    reflects the absence of supervision); instance = argmax_j instance_j + 1 where the class is a thing,
    else 0. Returns (H, W) int64 semantics and (H, W) int64 instance ids.
    """
    semantics = outputs["semantics"][..., 1:].argmax(dim=-1) + 1
    things = torch.zeros(class_set.num_classes, dtype=torch.bool, device=semantics.device)
    things[list(class_set.thing_ids)] = True
    instance = torch.zeros_like(semantics)
    if "instance" in outputs:
        instance = torch.where(things[semantics], outputs["instance"].argmax(dim=-1) + 1, instance)
    return semantics.cpu().numpy().astype(np.int64), instance.cpu().numpy().astype(np.int64)
