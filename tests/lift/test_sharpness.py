"""Blurred frames (`loss.sharp_frames`): sharpness against the most alike views, and the colour weights a
training gives the frames of a moving camera."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from scipy import ndimage

from panolift.config import tiny_config
from panolift.lift.losses import compute_rgb_loss
from panolift.lift.sharpness import frame_sharpness, sharpness_weights, similar_views
from panolift.lift.trainer import Trainer
from panolift.scene import Scene
from panolift.synth import SYNTH_PRESETS, synthesize_scene
from panolift.synth.synthesize import shutter_fractions
from panolift.synth.trajectory import camera_trajectory, intrinsics_for, look_pose, motion_pixels


def test_blur_lowers_sharpness_and_only_the_blurred_view_loses_weight():
    rng = np.random.default_rng(0)
    image = ndimage.uniform_filter(rng.random((48, 64, 3)), (3, 3, 1))
    blurred = ndimage.uniform_filter1d(image, 7, axis=1)  # a horizontal smear, as a turning camera's
    assert frame_sharpness(blurred) < 0.5 * frame_sharpness(image)
    # six cameras at one spot turning slowly, and three across the room looking back at a plain wall
    c2w = np.stack(
        [look_pose(np.array([1.0, 1.0, 1.5]), 0.1 * k, 0.0) for k in range(6)]
        + [look_pose(np.array([4.0, 3.0, 1.5]), np.pi + 0.1 * k, 0.0) for k in range(3)]
    )
    near = similar_views(c2w, 3)
    assert (near[:, 0] == np.arange(9)).all() and set(near[2]) == {1, 2, 3} and set(near[7]) == {6, 7, 8}
    sharpness = np.array([1.0, 1.1, 0.4, 0.9, 1.0, 1.05, 0.2, 0.25, 0.22])  # frame 2 blurred
    weights = sharpness_weights(sharpness, c2w, 2.0, count=3)
    assert weights[2] == pytest.approx((0.4 / 0.9) ** 2)  # against the median of frames 1-3
    assert (weights[[0, 1, 3, 4, 5]] > 0.8).all()
    assert (weights[6:] > 0.75).all()  # dull, but as sharp as their own views
    assert (sharpness_weights(sharpness, c2w, 0.0) == 1.0).all()


def test_weighted_colour_loss():
    rgb, target = torch.rand(6, 3), torch.rand(6, 3)
    plain = compute_rgb_loss(rgb, target)
    assert torch.allclose(compute_rgb_loss(rgb, target, torch.full((6,), 0.3)), plain)
    weight = torch.tensor([1.0, 1.0, 1.0, 0.0, 0.0, 0.0])
    assert torch.allclose(compute_rgb_loss(rgb, target, weight), compute_rgb_loss(rgb[:3], target[:3]))


def test_a_training_weighs_the_blurred_frames_of_a_moving_camera_less(tmp_path):
    config = SYNTH_PRESETS["tiny"]
    config = dataclasses.replace(config, appearance=dataclasses.replace(config.appearance, motion_blur=0.06))
    synthesize_scene(tmp_path / "blurred", config)
    scene = Scene(tmp_path / "blurred")
    poses, focal = camera_trajectory(config), intrinsics_for(config)[0, 0]
    fractions = shutter_fractions(config, poses)
    blur = np.array([fractions[int(n)] * motion_pixels(poses, int(n), focal) for n in scene.train_frames])
    lift = tiny_config()
    lift.loss.sharp_frames = 2.0
    trainer = Trainer(scene, scene.normalization(lift.train.max_depth), lift)
    weights = trainer.colour_weights.numpy()
    assert weights.shape == (len(scene.train_frames),) and (weights <= 1.0).all() and (weights > 0).all()
    assert blur.max() > 2.5 * np.median(blur)  # the draw has a badly blurred frame
    assert weights[np.argmax(blur)] < np.median(weights)  # and it pulls less than most
    assert (
        weights[np.argsort(blur)[: len(blur) // 2]].mean()
        > weights[np.argsort(blur)[len(blur) // 2 :]].mean()
    )
    losses = [trainer.train_step()["rgb"] for _ in range(5)]
    assert all(np.isfinite(losses))
    assert Trainer(scene, scene.normalization(lift.train.max_depth), tiny_config()).colour_weights is None
