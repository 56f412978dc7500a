"""Depths matched between training views (:mod:`panolift.lift.stereo`) and the loss that uses them: the
matches agree with the synthetic scene's true depth, nothing is matched without texture or a neighbour,
the loss clears a screen in front of the camera, and a training with it resumes exactly."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from panolift.config import tiny_config
from panolift.lift.losses import compute_matched_depth_loss
from panolift.lift.stereo import MatchConfig, MatchedDepths, candidate_pixels, choose_neighbours, match_depths
from panolift.render.volume import render_weights_from_density
from panolift.runs import TrainingRun
from panolift.scene import Scene


def _training_views(scene: Scene):
    names = list(scene.train_frames)
    normalization = scene.normalization(5.0)
    c2w = normalization.apply_to_poses(np.stack([scene.pose(n) for n in names]))
    return names, normalization, torch.as_tensor(c2w, dtype=torch.float32)


def test_matched_depths_agree_with_the_true_depth(tiny_scene):
    scene = Scene(tiny_scene)
    names, normalization, c2w = _training_views(scene)
    images = np.stack([scene.rgb(n) for n in names])
    K = torch.as_tensor(scene.intrinsics, dtype=torch.float32)
    box = torch.tensor([[-1.0] * 3, [1.0] * 3])
    matched = match_depths(images, K, c2w, box, 0.05, MatchConfig())
    assert len(matched) >= 50 and set(matched.frames.tolist()) <= set(range(len(names)))
    # the true depth (along the optical axis, metres) at each matched pixel
    width = scene.width
    x, y = (matched.pixels % width).float() + 0.5, (matched.pixels // width).float() + 0.5
    ray_length = (torch.stack([x, y, torch.ones_like(x)], -1) @ torch.linalg.inv(K).T).norm(dim=-1)
    truth = torch.tensor(
        [
            scene.depth(names[f]).reshape(-1)[p]
            for f, p in zip(matched.frames.tolist(), matched.pixels.tolist(), strict=True)
        ]
    )
    matched_z = matched.depth / normalization.scale / ray_length
    error = (matched_z / truth - 1).abs()[truth > 0]
    assert float(error.median()) < 0.08 and float((error < 0.15).float().mean()) > 0.75, error
    # a frame's usable mask keeps its matches out
    usable = torch.ones(len(names), scene.width * scene.height, dtype=torch.bool)
    usable[int(matched.frames[0])] = False
    fewer = match_depths(images, K, c2w, box, 0.05, MatchConfig(), usable)
    assert int(matched.frames[0]) not in fewer.frames.tolist() and 0 < len(fewer) < len(matched)


def test_nothing_is_matched_without_texture_or_a_neighbour(tiny_scene):
    config = MatchConfig()
    flat = torch.full((48, 64), 0.3)
    assert candidate_pixels(flat, config)[0].shape[0] == 0
    noise = torch.rand(48, 64, generator=torch.Generator().manual_seed(0))
    xy, values = candidate_pixels(noise, config)
    reach = (config.patch // 2) * config.dilation
    assert xy.shape[0] == ((64 - 2 * reach) // config.cell) * ((48 - 2 * reach) // config.cell)
    assert values.shape == (xy.shape[0], config.patch**2)
    large = torch.rand(384, 512, generator=torch.Generator().manual_seed(1))
    assert 0.5 * config.max_candidates < candidate_pixels(large, config)[0].shape[0] <= config.max_candidates
    # two cameras facing away from each other, or at the same place, are no neighbours
    c2w = torch.eye(4).repeat(3, 1, 1)
    c2w[1, :3, :3] = torch.diag(torch.tensor([-1.0, 1.0, -1.0]))  # turned around
    c2w[1, 0, 3] = 0.1
    assert (choose_neighbours(c2w, config) == -1).all()
    c2w[2, 0, 3] = 0.05  # the same way as camera 0, 5 cm beside it
    assert choose_neighbours(c2w, config)[:, 0].tolist() == [2, -1, 0]
    scene = Scene(tiny_scene)
    images = np.full((2, scene.height, scene.width, 3), 0.5, dtype=np.float32)
    K = torch.as_tensor(scene.intrinsics, dtype=torch.float32)
    box = torch.tensor([[-1.0] * 3, [1.0] * 3])
    assert len(match_depths(images, K, c2w[[0, 2]], box, 0.05, config)) == 0


def test_the_matched_depth_loss_clears_a_screen_and_holds_a_surface():
    t = torch.linspace(0.05, 1.0, 96)[None].repeat(2, 1)
    deltas = torch.full_like(t, float(t[0, 1] - t[0, 0]))
    density = torch.zeros_like(t)
    density[0, 2] = 2000.0  # a screen just in front of the camera ...
    density[:, 60] = 2000.0  # ... and the surface at the matched depth
    density.requires_grad_(True)
    weights, _ = render_weights_from_density(density, deltas)
    depth = t[:, 60].clone()
    loss = compute_matched_depth_loss(weights, t, depth, band=0.1, min_width=0.0)
    loss.backward()
    per_ray = 1 - (weights * ((t - depth[:, None]).abs() <= 0.1 * depth[:, None])).sum(-1)
    assert per_ray[0] > 0.99 and per_ray[1] < 0.01
    assert density.grad[0, 2] > 0  # descent lowers the screen's density
    assert density.grad[1, 60] <= 0  # and keeps the surface
    # a band narrower than a step still holds two samples of each side
    narrow = compute_matched_depth_loss(
        weights[1:], t[1:], depth[1:], band=0.0, min_width=float(deltas[0, 0])
    )
    assert float(narrow.detach()) < 0.01


def test_matched_depths_round_trip_and_a_bad_checkpoint_is_refused():
    matched = MatchedDepths(
        torch.tensor([0, 1]), torch.tensor([5, 9]), torch.tensor([0.3, 0.4]), torch.ones(2)
    )
    back = MatchedDepths.from_tensors(matched.tensors())
    assert all(
        torch.equal(getattr(back, k), getattr(matched, k)) for k in ("frames", "pixels", "depth", "score")
    )
    assert MatchedDepths.from_tensors({}) is None
    tensors = matched.tensors()
    tensors["matched.depth"] = torch.zeros(3)
    with pytest.raises(ValueError, match="matched depths"):
        MatchedDepths.from_tensors(tensors)


def test_a_training_with_matched_depths_resumes_exactly(tiny_scene, tmp_path):
    config = tiny_config()
    config.loss.matched_depth, config.train.rays_matched = 0.1, 64
    train = config.train
    train.iterations, train.checkpoint_every, train.log_every = 50, 30, 2
    train.occupancy_steps, train.shrink_step, train.upsample_steps = (10, 20), 20, (15,)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with TrainingRun(tiny_scene, tmp_path / "full", config) as full:
            full.run()
            want, matched = full.trainer.history, full.trainer.matched
        with TrainingRun(tiny_scene, tmp_path / "part", config) as part:
            part.run(stop_at=30)
        with TrainingRun(tiny_scene, tmp_path / "part", resume=True) as resumed:
            assert resumed.trainer.matched is not None and len(resumed.trainer.matched) == len(matched)
            resumed.run()
            got = resumed.trainer.history
    finally:
        torch.set_num_threads(threads)
    assert len(matched) > 0 and all("matched_depth" in h for h in want)
    assert [h["step"] for h in want] == [h["step"] for h in got]
    for a, b in zip(want, got, strict=True):
        for key in ("rgb", "matched_depth", "total"):
            assert b[key] == pytest.approx(a[key], rel=1e-4, abs=1e-6), (a["step"], key)


def test_the_box_fits_the_matched_depths_at_the_first_upsampling(tiny_scene, tmp_path):
    from panolift.lift.batching import rays_for_pixels
    from panolift.lift.schedules import grid_resolution_at
    from panolift.lift.trainer import voxel_edge
    from panolift.render import sampling_domain

    config = tiny_config()
    config.loss.matched_depth, config.train.rays_matched = 0.1, 64
    train = config.train
    train.iterations, train.upsample_steps, train.occupancy_steps, train.shrink_step = 50, (20,), (), 40
    train.box_from_matches = 0.1
    with TrainingRun(tiny_scene, tmp_path / "run", config) as run:
        run.run(stop_at=19)
        trainer = run.trainer
        start = trainer.field.aabb.clone()
        tight, box = trainer.matched_box(0.0), trainer.matched_box(0.1)
        matched = trainer.matched_depths()
        origins, dirs = rays_for_pixels(trainer.data, matched.frames, matched.pixels)
        points = origins + dirs * matched.depth[:, None]
        cameras = trainer.data.c2w[:, :3, 3]

        def inside(p, b):
            return ((p >= b[0] - 1e-6) & (p <= b[1] + 1e-6)).all(dim=-1)

        assert len(matched) >= 50 and bool(inside(cameras, tight).all())
        assert float(inside(points, tight).float().mean()) >= 0.9  # all but the quantiles' tails (99 points)
        assert bool((box[0] <= tight[0]).all() and (box[1] >= tight[1]).all())  # the margin grows it
        assert bool((box[0] >= start[0]).all() and (box[1] <= start[1]).all())  # never beyond the box
        assert float((box[1] - box[0]).prod()) < 0.9 * float((start[1] - start[0]).prod())
        assert trainer.field.march_voxel_floor == 0.0
        run.run(stop_at=30)  # the first upsampling moves the grids to the fitted box
        field = trainer.field
        assert torch.allclose(field.aabb, box)
        # until the shrink the march keeps the step of the box it left: finer voxels, as many samples
        floor = voxel_edge(start, grid_resolution_at(20, config))
        assert field.march_voxel_floor == pytest.approx(floor)
        assert floor > 1.2 * float(field.voxel_size.mean())
        step = sampling_domain(field, config.render, field.aabb.device).step_size
        assert step == pytest.approx(config.render.step_ratio * floor)
        assert trainer.step == 30 and all(math.isfinite(h["total"]) for h in trainer.history)
    with TrainingRun(tiny_scene, tmp_path / "run", resume=True) as resumed:
        trainer = resumed.trainer
        assert trainer.field.march_voxel_floor == pytest.approx(floor)  # a resumed run keeps the step
        assert torch.allclose(trainer.march_box, start)
        resumed.run()  # the shrink at 40: the step follows the field's own voxels again
        assert trainer.step == 50 and trainer.march_box is None and trainer.field.march_voxel_floor == 0.0
        step = sampling_domain(trainer.field, config.render, start.device).step_size
        assert step == pytest.approx(config.render.step_ratio * float(trainer.field.voxel_size.mean()))


def test_the_floor_height_comes_from_the_matches_labelled_floor_and_lifts_the_box_bottom(
    tiny_scene, tmp_path
):
    from panolift.lift.batching import frame_targets, rays_for_pixels

    config = tiny_config()
    train = config.train
    train.iterations, train.upsample_steps, train.occupancy_steps, train.shrink_step = 40, (), (10,), 30
    train.orient_world, train.floor_from_matches = True, True
    with TrainingRun(tiny_scene, tmp_path / "run", config) as run:
        run.run(stop_at=20)
        trainer = run.trainer
        scale = trainer.normalization.scale
        # the synthesized room's floor is the plane z = 0 of its world (upright: z stays up)
        true = float(trainer.normalization.points_to_field(np.zeros((1, 3)))[0, 2])
        # matches on every pixel the training labels call floor, at the floor; and, as a glossy floor's
        # reflections give, as many again under it at 1.1-2x their distance (heights spread below)
        data, floor = trainer.data, trainer.scene.class_set.names.index("floor")
        frames, pixels = [], []
        for frame in range(len(data.frame_names)):
            labels = frame_targets(data, frame)["probability"].argmax(dim=1)
            rows = torch.nonzero(labels == floor)[:, 0]
            frames.append(torch.full_like(rows, frame))
            pixels.append(rows)
        frames, pixels = torch.cat(frames), torch.cat(pixels)
        origins, dirs = rays_for_pixels(data, frames, pixels)
        down = dirs[:, 2] < -0.05
        frames, pixels, origins, dirs = frames[down], pixels[down], origins[down], dirs[down]
        depth = (true - origins[:, 2]) / dirs[:, 2]
        mirrored = depth * torch.linspace(1.1, 2.0, len(depth), dtype=depth.dtype)
        trainer.matched = MatchedDepths(
            frames.repeat(2),
            pixels.repeat(2),
            torch.cat([depth, mirrored]).float(),
            torch.ones(2 * len(depth)),
        )
        assert len(depth) >= 200
        height = trainer.floor_height()
        assert height is not None and abs(height - true) < 0.01 * scale
        low = trainer.field.aabb.clone()
        low[0, 2] = true - 0.5 * scale
        raised = trainer.box_above_floor(low)
        assert float(raised[0, 2]) == pytest.approx(height - 0.05 * scale)
        assert torch.equal(raised[1], low[1]) and torch.equal(raised[0, :2], low[0, :2])
        high = low.clone()
        high[0, 2] = true - 0.01 * scale  # already above the cut: kept
        assert torch.equal(trainer.box_above_floor(high), high)
        # a lower level with things on it: the other classes' matches under the cut keep the box
        others = []
        for frame in range(len(data.frame_names)):
            labels = frame_targets(data, frame)["probability"].argmax(dim=1)
            rows = torch.nonzero(labels != floor)[:, 0]
            others.append((torch.full_like(rows, frame), rows))
        o_frames, o_pixels = (torch.cat(parts) for parts in zip(*others, strict=True))
        o_origins, o_dirs = rays_for_pixels(data, o_frames, o_pixels)
        o_down = o_dirs[:, 2] < -0.05
        o_frames, o_pixels, o_origins, o_dirs = (
            o_frames[o_down],
            o_pixels[o_down],
            o_origins[o_down],
            o_dirs[o_down],
        )
        o_depth = (true - 0.3 * scale - o_origins[:, 2]) / o_dirs[:, 2]  # 30 cm under the floor
        keep = trainer.matched
        for share, kept in ((0.01, False), (0.2, True)):  # 1%: bad matches, cut; 20%: a lower level, kept
            n = max(1, int(share * len(o_depth)))
            under = torch.zeros(len(o_depth), dtype=torch.bool)
            under[torch.randperm(len(o_depth), generator=torch.Generator().manual_seed(0))[:n]] = True
            o_match = torch.where(under, o_depth, (true + 0.5 * scale - o_origins[:, 2]) / o_dirs[:, 2])
            trainer.matched = MatchedDepths(
                torch.cat([keep.frames, o_frames]),
                torch.cat([keep.pixels, o_pixels]),
                torch.cat([keep.depth, o_match.float()]),
                torch.ones(len(keep.depth) + len(o_depth)),
            )
            assert torch.equal(trainer.box_above_floor(low), low) == kept, share
        trainer.matched = keep
        assert trainer.floor_height(min_points=10 * len(depth)) is None  # too few
        train.orient_world = False  # no upright world, no floor height
        assert trainer.floor_height() is None
        train.orient_world = True
        run.run(stop_at=31)  # the shrink: the box ends 5 cm under the floor, or above it
        assert float(trainer.field.aabb[0, 2]) >= height - 0.05 * scale - 1e-6
