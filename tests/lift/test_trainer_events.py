"""The trainer's scene-adaptive pieces: the box shrunk to what training rays reach, colour-loss scaling
by contrast, random backgrounds."""

from __future__ import annotations

import numpy as np
import pytest
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


def test_box_shrunk_to_what_rays_reach_holds_the_seen_surfaces(tiny_scene):
    """The box that light from the cameras reaches holds every surface the training views see, and is much
    smaller than the whole box (which a floater anywhere keeps for the authors' shrink)."""
    torch.manual_seed(0)
    config = tiny_config()
    config.train.random_background, config.train.min_opaque_fraction, config.train.shrink_step = True, 0.5, -1
    scene = Scene(tiny_scene)
    normalization = scene.normalization(config.train.max_depth)
    trainer = Trainer(scene, normalization, config)
    for _ in range(200):
        trainer.train_step()
    full = trainer.field.aabb.clone()
    box = trainer.reached_aabb(within=full)
    assert (box[1] - box[0]).prod() < 0.6 * (full[1] - full[0]).prod()
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
    assert float(inside) > 0.99, float(inside)


def test_shrink_to_reached_trains_on(tiny_scene):
    config = tiny_config()
    config.train.shrink_to_reached, config.train.iterations = True, 200
    scene = Scene(tiny_scene)
    trainer = Trainer(scene, scene.normalization(config.train.max_depth), config)
    full = trainer.field.aabb.clone()
    for _ in range(200):
        metrics = trainer.train_step()
    assert np.isfinite(metrics["total"])
    assert (trainer.field.aabb[1] - trainer.field.aabb[0]).prod() < (full[1] - full[0]).prod()


def test_geometry_learning_rate_decays_on_its_own_and_resumes(tiny_scene):
    """``lr_decay_geometry`` gives density and colour (grids, basis, colour MLP) their own decay, the heads
    keep ``lr_decay``; the split survives a checkpoint; without it each optimizer is one group as before."""
    config = tiny_config()
    config.train.iterations, config.train.lr_decay, config.train.lr_decay_geometry = 100, 0.1, 0.5
    scene = Scene(tiny_scene)
    normalization = scene.normalization(config.train.max_depth)
    trainer = Trainer(scene, normalization, config)
    for _ in range(40):
        trainer.train_step()
    geometry, heads = trainer.optimizers["grid"].param_groups
    assert len(geometry["params"]) == len(trainer.field.geometry_grid_parameters()) > 0
    assert len(heads["params"]) == len(trainer.field.head_grid_parameters()) > 0
    assert abs(geometry["lr"] - config.train.lr_grid * 0.5**0.4) < 1e-9
    assert abs(heads["lr"] - config.train.lr_grid * 0.1**0.4) < 1e-9
    color, semantic = trainer.optimizers["mlp"].param_groups
    assert len(color["params"]) == len(trainer.field.color_parameters())
    assert abs(color["lr"] - config.train.lr_mlp * 0.5**0.4) < 1e-9
    assert abs(semantic["lr"] - config.train.lr_mlp * 0.1**0.4) < 1e-9
    assert trainer.optimizers["instance"].param_groups[0]["lr"] == pytest.approx(
        config.train.lr_instance * 0.1**0.4
    )

    meta, tensors = trainer.state()
    resumed = Trainer(scene, normalization, config)
    resumed.load_state(meta, tensors)
    resumed.train_step()
    assert [g["decay"] for g in resumed.optimizers["grid"].param_groups] == [0.5, 0.1]
    assert [g["lr"] for g in resumed.optimizers["grid"].param_groups] == pytest.approx(
        [config.train.lr_grid * 0.5**0.41, config.train.lr_grid * 0.1**0.41], rel=1e-9
    )

    config.train.lr_decay_geometry = 0.0
    plain = Trainer(scene, normalization, config)
    plain.train_step()
    (group,) = plain.optimizers["grid"].param_groups
    assert len(group["params"]) == len(plain.field.grid_parameters())
    assert len(plain.optimizers["mlp"].param_groups) == 1
    assert abs(group["lr"] - config.train.lr_grid * 0.1**0.01) < 1e-9
