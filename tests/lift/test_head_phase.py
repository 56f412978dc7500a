"""A head phase (``train.head_steps``): density and colour first, then the labels' heads alone on the frozen
geometry. Each phase changes only its own parameters, the schedules count within each phase, and a run
stopped in the heads' phase resumes exactly."""

from __future__ import annotations

import pytest
import torch

from panolift.config import LiftConfig, tiny_config
from panolift.lift.batching import sample_scene_batch
from panolift.lift.head_cache import HeadSampleCache, head_samples_per_ray
from panolift.lift.schedules import learning_rate_factor_at, loss_weights_at, phase_at
from panolift.lift.trainer import Trainer
from panolift.render import render_rays
from panolift.runs import TrainingRun
from panolift.runs.validate import config_problems
from panolift.scene import Scene


def test_phases_and_their_schedules():
    config = LiftConfig()
    config.train.iterations, config.train.head_steps = 1000, 400
    config.loss.instance_start, config.loss.consistency_start, config.loss.ramp = 0.3, 0.5, 0.0
    assert phase_at(600, config) == ("geometry", 600, 600)
    assert phase_at(601, config) == ("heads", 1, 400)
    geometry, heads = loss_weights_at(300, config), loss_weights_at(900, config)
    assert geometry["rgb"] == 1.0 and geometry["semantic"] == geometry["instance"] == 0.0
    assert heads["rgb"] == heads["tv_density"] == heads["distortion"] == 0.0 and heads["semantic"] == 1.0
    # the labels' warm-ups count within the heads' 400 steps: instance from its step 120, consistency 200
    assert loss_weights_at(719, config)["instance"] == 0.0 and loss_weights_at(720, config)["instance"] == 1.0
    assert loss_weights_at(799, config)["consistency"] == 0.0 < loss_weights_at(800, config)["consistency"]
    # each phase decays its learning rates over its own steps
    assert learning_rate_factor_at(300, config, 0.1) == pytest.approx(0.1**0.5)
    assert learning_rate_factor_at(800, config, 0.1) == pytest.approx(0.1**0.5)
    assert learning_rate_factor_at(1000, config, 0.1) == pytest.approx(0.1)
    # without a head phase nothing changes
    config.train.head_steps = 0
    assert phase_at(900, config) == ("joint", 900, 1000)
    assert loss_weights_at(900, config)["rgb"] == 1.0 and loss_weights_at(900, config)["semantic"] == 1.0
    assert learning_rate_factor_at(500, config, 0.1) == pytest.approx(0.1**0.5)


def test_a_head_phase_longer_than_the_training_is_refused():
    config = tiny_config()
    config.train.head_steps = config.train.iterations
    assert [p[0] for p in config_problems(config)] == ["train.head_steps"]
    config.train.head_steps = config.train.iterations - 1
    assert config_problems(config) == []


def _head_parameters(field) -> list[torch.Tensor]:
    heads = field.head_grid_parameters() + list(field.semantic_head.parameters())
    return heads + list(field.instance_parameters())


def _parameters(field) -> dict[str, list[torch.Tensor]]:
    geometry = field.geometry_grid_parameters() + list(field.color_parameters())
    return {
        "geometry": [p.detach().clone() for p in geometry],
        "heads": [p.detach().clone() for p in _head_parameters(field)],
    }


def _same(a: list[torch.Tensor], b: list[torch.Tensor]) -> bool:
    return len(a) == len(b) and all(
        x.shape == y.shape and torch.equal(x, y) for x, y in zip(a, b, strict=True)
    )


def test_each_phase_trains_its_own_parameters_and_the_labels_are_learnt(tiny_scene):
    torch.manual_seed(0)
    config = tiny_config()
    config.field.instance_embedding = 8  # `fast`'s instance field
    train = config.train
    train.iterations, train.head_steps = 500, 150  # the tiny preset's events, all in the geometry's steps
    scene = Scene(tiny_scene)
    trainer = Trainer(scene, scene.normalization(train.max_depth), config)
    start = _parameters(trainer.field)
    metrics = [trainer.train_step() for _ in range(350)]
    assert sum(m["rgb"] for m in metrics[-10:]) < 0.5 * sum(m["rgb"] for m in metrics[:10])
    assert all("semantic" not in m and "psnr" in m for m in metrics)
    geometry = _parameters(trainer.field)
    # no head has had a step while the geometry trained (their grids are only resampled with the box)
    stepped = {id(p) for optimizer in trainer.optimizers.values() for p in optimizer.state}
    assert stepped and not stepped & {id(p) for p in _head_parameters(trainer.field)}
    assert not _same(start["geometry"], geometry["geometry"])
    aabb, occupancy = trainer.field.aabb.clone(), trainer.field.occupancy_mask.clone()
    metrics = [trainer.train_step() for _ in range(150)]
    assert all("rgb" not in m and "semantic" in m for m in metrics)
    assert all("instance" in m for m in metrics[-70:]) and all("consistency" in m for m in metrics[-70:])
    heads = _parameters(trainer.field)
    assert _same(geometry["geometry"], heads["geometry"])  # frozen, to the bit
    assert not _same(geometry["heads"], heads["heads"])
    assert torch.equal(aabb, trainer.field.aabb) and torch.equal(occupancy, trainer.field.occupancy_mask)
    assert (
        trainer.head_cache is not None and trainer.head_cache.fill_fraction > 0.5
    )  # heads on cached samples
    first = sum(m["semantic"] for m in metrics[:10]) / 10
    last = sum(m["semantic"] for m in metrics[-10:]) / 10
    assert last < 0.7 * first, (first, last)


def test_the_head_cache_renders_the_heads_as_the_march_does(tiny_scene):
    torch.manual_seed(0)
    config = tiny_config()
    config.field.instance_embedding = 8
    config.render.max_head_samples_per_ray = 3
    scene = Scene(tiny_scene)
    trainer = Trainer(scene, scene.normalization(config.train.max_depth), config)
    for _ in range(40):  # a surface to sample, and an occupancy grid
        trainer.train_step()
    field, data = trainer.field, trainer.data
    cache = HeadSampleCache(data.num_frames * data.width * data.height, head_samples_per_ray(config.render))
    assert cache.k == 3
    batch = sample_scene_batch(data, 300, torch.Generator().manual_seed(1))
    keys = batch["frame"] * data.width * data.height + batch["pixel"]
    heads = ("semantics", "instance")
    with torch.no_grad():
        want = render_rays(field, batch["origins"], batch["dirs"], config.render, outputs=heads)
        got = cache.render(field, config.render, batch["origins"], batch["dirs"], keys, heads)
        assert cache.filled.sum() == torch.unique(keys).numel()
        for name in heads:
            assert torch.allclose(got[name], want[name], atol=1e-5), name
        # a second time from the cache alone: the same, without marching
        t_before = cache.t.clone()
        again = cache.render(field, config.render, batch["origins"], batch["dirs"], keys, heads)
        assert torch.equal(cache.t, t_before) and torch.allclose(again["semantics"], got["semantics"])
    # the heads' parameters get gradients through the cache, the density none
    field.zero_grad(set_to_none=True)  # the last training step's
    out = cache.render(field, config.render, batch["origins"], batch["dirs"], keys, ("semantics",))
    out["semantics"].sum().backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in field.semantic_head.parameters())
    assert all(p.grad is None for p in field.geometry_grid_parameters())


def test_without_the_cache_or_outside_a_head_phase_nothing_is_cached(tiny_scene):
    config = tiny_config()
    config.train.iterations, config.train.head_steps, config.train.head_cache = 30, 10, False
    config.train.occupancy_steps, config.train.shrink_step, config.train.upsample_steps = (10,), 10, ()
    scene = Scene(tiny_scene)
    trainer = Trainer(scene, scene.normalization(config.train.max_depth), config)
    for _ in range(30):
        trainer.train_step()
    assert trainer.head_cache is None
    with pytest.raises(ValueError, match="bounded"):
        HeadSampleCache(10, 0)


def test_a_run_stopped_in_the_head_phase_resumes_exactly(tiny_scene, tmp_path):
    config = tiny_config()
    config.field.instance_embedding = 8
    train = config.train
    train.iterations, train.head_steps, train.checkpoint_every, train.log_every = 60, 30, 40, 2
    train.occupancy_steps, train.shrink_step, train.upsample_steps = (10, 20), 20, (15,)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with TrainingRun(tiny_scene, tmp_path / "full", config) as full:
            full.run()
            want = full.trainer.history
        with TrainingRun(tiny_scene, tmp_path / "part", config) as part:
            part.run(stop_at=40)  # ten steps into the heads' phase
        with TrainingRun(tiny_scene, tmp_path / "part", resume=True) as resumed:
            assert resumed.trainer.step == 40
            resumed.run()
            got = resumed.trainer.history
    finally:
        torch.set_num_threads(threads)
    assert [h["step"] for h in want] == [h["step"] for h in got]
    for a, b in zip(want, got, strict=True):
        for key in ("rgb", "semantic", "instance", "consistency", "total"):
            assert (key in a) == (key in b)
            if key in a:
                assert b[key] == pytest.approx(a[key], rel=1e-4, abs=1e-6), (a["step"], key)
