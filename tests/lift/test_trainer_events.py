"""The trainer's scene-adaptive pieces: the box shrunk to where rays end, colour-loss scaling by contrast,
random backgrounds."""

from __future__ import annotations

import numpy as np
import torch

from panolift.config import tiny_config
from panolift.lift.trainer import Trainer, contrast_factor
from panolift.scene import Scene, generate_rays


def test_contrast_factor_scales_only_dim_low_contrast_scenes():
    gen = torch.Generator().manual_seed(0)
    bright = (torch.rand(5000, 3, generator=gen) * 255).to(torch.uint8)  # variance ~ 1/12
    dim = (torch.rand(5000, 3, generator=gen) * 40).to(torch.uint8)  # variance ~ 0.002
    assert contrast_factor(bright, 0.03) == 1.0
    assert contrast_factor(dim, 0.0) == 1.0
    factor = contrast_factor(dim, 0.03)
    variance = float((dim.float() / 255).var(0).mean())
    assert abs(factor - min(0.03 / variance, 10.0)) < 0.5 and factor > 5


def test_surface_box_holds_the_seen_surfaces_and_is_tighter(tiny_scene):
    torch.manual_seed(0)
    config = tiny_config()
    config.train.random_background, config.train.min_opaque_fraction, config.train.shrink_step = True, 0.5, -1
    scene = Scene(tiny_scene)
    normalization = scene.normalization(config.train.max_depth)
    trainer = Trainer(scene, normalization, config)
    for _ in range(200):
        trainer.train_step()
    full = trainer.field.aabb.clone()
    box = trainer.surface_aabb(within=full)
    assert (box[1] - box[0]).prod() < 0.8 * (full[1] - full[0]).prod()
    points = []  # true surface points of the training views, field coordinates
    K = torch.as_tensor(scene.intrinsics, dtype=torch.float32)
    for name in scene.train_frames:
        c2w = torch.as_tensor(normalization.apply_to_poses(scene.pose(name)), dtype=torch.float32)
        origins, dirs = generate_rays(K, c2w, scene.width, scene.height)
        depth = torch.as_tensor(scene.depth(name).reshape(-1), dtype=torch.float32)
        t = depth * normalization.scale / (dirs @ c2w[:3, 2])
        points.append((origins + dirs * t[:, None])[depth > 0])
    points = torch.cat(points)
    inside = ((points >= box[0]) & (points <= box[1])).all(-1).float().mean()
    assert float(inside) > 0.97, float(inside)
    assert np.isfinite(trainer.train_step()["total"])
