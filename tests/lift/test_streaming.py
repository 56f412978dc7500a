"""Compact targets and streamed frames: the same targets and the same batch statistics as the full ones."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from panolift.config import tiny_config
from panolift.lift.batching import (
    drop_extra_instances,
    frame_targets,
    load_training_data,
    rays_for_pixels,
    sample_image_batch,
    sample_scene_batch,
)
from panolift.lift.frame_store import MIN_HELD, RefreshSchedule
from panolift.runs import TrainingRun, latest_checkpoint, read_checkpoint
from panolift.scene import Scene

STREAM = 1e-6  # GiB: far below the targets, so that MIN_HELD pixels of each frame are held


def full_targets(scene: Scene, name: str, num_slots: int = 16) -> dict[str, np.ndarray]:
    """The slow, obvious targets of a frame, as the loader held them before: float distributions, raw ids."""
    labels = scene.machine_labels(name)
    usable = ~scene.invalid_mask(name)
    return {
        "rgb": np.round(scene.rgb(name) * 255).reshape(-1, 3) / 255.0,
        "probability": labels.probability.reshape(scene.width * scene.height, -1).astype(np.float16),
        "confidence": np.where(usable & (labels.semantics > 0), labels.confidence, 0).reshape(-1),
        "instance": drop_extra_instances(np.where(usable, labels.instance, 0), num_slots, name).reshape(-1),
        "segments": np.where(usable, labels.segments, 0).reshape(-1),
    }


def same_partition(a: np.ndarray, b: np.ndarray) -> bool:
    """Two id maps group pixels identically, in the same id order, with 0 where the other has 0."""
    pairs = np.unique(np.stack([a, b]), axis=1)
    return (
        len(np.unique(pairs[0])) == len(np.unique(pairs[1])) == pairs.shape[1]
        and ((a == 0) == (b == 0)).all()
    )


def test_compact_targets_are_the_full_ones_within_quantisation(tiny_scene):
    scene = Scene(tiny_scene)
    data = load_training_data(scene, scene.normalization(), num_slots=16)
    assert not data.streaming and data.num_held == data.width * data.height
    assert data.nbytes() == 15 * data.num_frames * data.width * data.height
    for row, name in enumerate(scene.train_frames):
        full, compact = full_targets(scene, name), frame_targets(data, row)
        np.testing.assert_array_equal(compact["rgb"].numpy(), full["rgb"].astype(np.float32))
        np.testing.assert_allclose(compact["confidence"].numpy(), full["confidence"], atol=0.5 / 255 + 1e-6)
        assert ((compact["confidence"].numpy() > 0) == (full["confidence"] > 0)).all()
        prob, ref = compact["probability"].numpy(), full["probability"].astype(np.float32)
        np.testing.assert_allclose(prob.sum(-1), 1.0, atol=1e-5)
        assert (prob.argmax(-1) == ref.argmax(-1)).mean() > 0.999  # only ties may differ
        np.testing.assert_allclose(prob, ref, atol=0.05)  # the dropped tail and 1/255 steps
        assert same_partition(compact["instance"].numpy(), full["instance"])
        assert same_partition(compact["segments"].numpy(), full["segments"])


def test_compact_batches_have_the_statistics_of_full_ones(tiny_scene):
    scene = Scene(tiny_scene)
    data = load_training_data(scene, scene.normalization(), num_slots=16)
    full = [full_targets(scene, name) for name in scene.train_frames]
    num_pixels = data.width * data.height
    gen = torch.Generator().manual_seed(3)
    sums: dict[str, list[float]] = {"probability": [], "confidence": [], "rgb": []}
    ref: dict[str, list[float]] = {"probability": [], "confidence": [], "rgb": []}
    for _ in range(20):
        state = gen.get_state()
        batch = sample_scene_batch(data, 512, gen)
        gen2 = torch.Generator().manual_seed(0)
        gen2.set_state(state)
        flat = torch.randint(data.num_frames * num_pixels, (512,), generator=gen2).numpy()
        rows, pixels = flat // num_pixels, flat % num_pixels
        for key in sums:
            sums[key].append(batch[key].numpy().mean(0))
            ref[key].append(np.stack([full[r][key][p] for r, p in zip(rows, pixels, strict=True)]).mean(0))
    for key in sums:  # the same pixels: per-class means agree to the tail mass and quantisation
        np.testing.assert_allclose(np.mean(sums[key], 0), np.mean(ref[key], 0), atol=6e-3, err_msg=key)


@pytest.fixture(scope="module")
def both(tiny_scene):
    scene = Scene(tiny_scene)
    memory = load_training_data(scene, scene.normalization(), num_slots=16)
    streamed = load_training_data(scene, scene.normalization(), num_slots=16, max_memory=STREAM, seed=5)
    return memory, streamed


def assert_held_pixels_are_the_in_memory_targets(memory, streamed):
    rows = torch.arange(memory.num_frames)[:, None]
    for key, value in streamed.targets.tensors().items():
        assert torch.equal(value, memory.targets.tensors()[key][rows, streamed.pixels.long()]), key


def test_streamed_frames_hold_exactly_the_in_memory_targets(both):
    memory, streamed = both
    assert streamed.streaming and streamed.num_held == MIN_HELD < memory.num_held
    assert streamed.nbytes() < memory.nbytes() / 5
    assert_held_pixels_are_the_in_memory_targets(memory, streamed)
    for frame in range(memory.num_frames):  # what R_I reads from disk
        a, b = frame_targets(memory, frame), frame_targets(streamed, frame)
        assert all(torch.equal(a[k], b[k]) for k in a)
    gen = torch.Generator().manual_seed(0)
    before = streamed.pixels.clone()
    for _ in range(400):  # 400 / 1024 of a pass: three of the nine frames draw fresh pixels
        batch = sample_scene_batch(streamed, 64, gen)
        assert len(torch.unique(batch["origins"], dim=0)) > 5  # rays across frames, every batch
    assert (streamed.pixels != before).any(1).sum() == 3
    assert_held_pixels_are_the_in_memory_targets(memory, streamed)
    state = gen.get_state()
    image = sample_image_batch(streamed, 128, gen, touching=True)
    gen.set_state(state)
    reference = sample_image_batch(memory, 128, gen, touching=True)  # R_I: the same batch as in memory
    assert image.keys() == reference.keys() and "touching" in image
    assert all(torch.equal(image[k], reference[k]) for k in image)


def test_streamed_frames_count_the_views_of_each_class_and_leave_out_the_same_targets(both):
    memory, streamed = both
    assert torch.equal(streamed.class_views, memory.class_views)
    try:
        assert streamed.keep_classes_seen_in(3) == memory.keep_classes_seen_in(3) != []
        for frame in range(memory.num_frames):  # R_I's targets from disk, left-out classes without confidence
            a, b = frame_targets(memory, frame), frame_targets(streamed, frame)
            assert all(torch.equal(a[k], b[k]) for k in a)
        gen = torch.Generator().manual_seed(2)
        state = gen.get_state()
        image = sample_image_batch(streamed, 128, gen)
        gen.set_state(state)
        reference = sample_image_batch(memory, 128, gen)
        assert all(torch.equal(image[k], reference[k]) for k in image)
    finally:
        memory.keep_classes_seen_in(1), streamed.keep_classes_seen_in(1)


def test_streamed_batches_have_the_statistics_of_in_memory_ones(tiny_scene):
    scene = Scene(tiny_scene)
    memory = load_training_data(scene, scene.normalization(), num_slots=16)
    streamed = load_training_data(scene, scene.normalization(), num_slots=16, max_memory=STREAM, seed=1)
    stats = []
    for data in (memory, streamed):
        gen = torch.Generator().manual_seed(7)
        frames = np.zeros(data.num_frames)
        totals = {"rgb": 0.0, "probability": 0.0, "confidence": 0.0, "thing": 0.0}
        steps = 2 * 1024  # every frame draws fresh pixels twice
        for _ in range(steps):
            batch = sample_scene_batch(data, 32, gen)
            totals["rgb"] += batch["rgb"].mean(0)
            totals["probability"] += batch["probability"].mean(0)
            totals["confidence"] += batch["confidence"].mean()
            totals["thing"] += (batch["instance"] > 0).float().mean()
            frames += np.bincount(
                ((batch["origins"][:, None, :] - data.c2w[None, :, :3, 3]).abs().sum(-1)).argmin(1).numpy(),
                minlength=data.num_frames,
            )
        stats.append(({k: v / steps for k, v in totals.items()}, frames / frames.sum()))
    (a, fa), (b, fb) = stats
    for key in a:  # standard errors of these means over 65536 rays are ~1e-3
        np.testing.assert_allclose(np.asarray(a[key]), np.asarray(b[key]), atol=0.012, err_msg=key)
    np.testing.assert_allclose(fa, fb, atol=0.02)  # every frame as often as in memory (1/9 each)


def test_held_pixels_are_a_function_of_the_position(tiny_scene):
    schedule = RefreshSchedule(num_frames=9, pass_steps=30)
    generations = np.zeros(9, dtype=int)
    for position in range(1, 100):
        for frame, generation in schedule.refreshes(position):
            assert generation == generations[frame] + 1
            generations[frame] = generation
        assert [schedule.generation(f, position) for f in range(9)] == generations.tolist()
    scene = Scene(tiny_scene)
    a = load_training_data(scene, scene.normalization(), num_slots=16, max_memory=STREAM, seed=4)
    b = load_training_data(scene, scene.normalization(), num_slots=16, max_memory=STREAM, seed=4)
    gen = torch.Generator().manual_seed(0)
    for _ in range(500):
        sample_scene_batch(a, 8, gen)
    b.load_state(a.state())  # a resumed run holds exactly what the run held
    assert torch.equal(a.pixels, b.pixels) and torch.equal(a.targets.rgb, b.targets.rgb)


def test_a_streamed_run_resumes_exactly(tiny_scene, tmp_path):
    config = tiny_config()
    train = config.train
    train.iterations, train.checkpoint_every, train.log_every, train.max_memory = 80, 40, 4, STREAM
    train.occupancy_steps, train.shrink_step, train.upsample_steps = (10, 30), 15, (60,)
    config.loss.instance_start, config.loss.consistency_start = 0.2, 0.4
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with TrainingRun(tiny_scene, tmp_path / "full", config) as full:
            assert full.trainer.data.streaming
            full.run()
        with TrainingRun(tiny_scene, tmp_path / "part", config) as part:
            part.run(stop_at=40)
        meta, _ = read_checkpoint(latest_checkpoint(tmp_path / "part"))
        assert meta["batching"]["position"] == 40  # one scene batch a step
        with TrainingRun(tiny_scene, tmp_path / "part", resume=True) as resumed:
            resumed.run()
    finally:
        torch.set_num_threads(threads)
    a = read_checkpoint(latest_checkpoint(tmp_path / "full"))[0]["history"]
    b = read_checkpoint(latest_checkpoint(tmp_path / "part"))[0]["history"]
    assert [h["step"] for h in a] == [h["step"] for h in b]
    for ha, hb in zip(a, b, strict=True):
        for key in ("rgb", "semantic", "total"):
            assert hb[key] == pytest.approx(ha[key], rel=1e-4, abs=1e-6), (ha["step"], key)


def test_frame_store_reads_back_what_it_wrote_at_any_size():
    from panolift.lift.frame_store import FrameStore

    rng = np.random.default_rng(0)
    store = FrameStore(num_frames=3, num_pixels=2961, num_classes=300, num_slots=300)  # odd; wide dtypes
    frames = []
    for index in range(3):
        frame = {
            name: rng.integers(0, 2 if dtype.kind == "b" else 250, size=shape).astype(dtype)
            for name, dtype, shape in store.layout
        }
        store.write(index, frame)
        frames.append(frame)
    for index in (2, 0, 1):
        read = store.read(index)
        for name, value in frames[index].items():
            assert read[name].flags.aligned and np.array_equal(read[name], value), name


def test_streamed_batches_name_the_pixel_of_each_ray(both):
    _, streamed = both
    batch = sample_scene_batch(streamed, 100, torch.Generator().manual_seed(0))
    origins, dirs = rays_for_pixels(streamed, batch["frame"], batch["pixel"])
    assert torch.allclose(origins, batch["origins"]) and torch.allclose(dirs, batch["dirs"])


def test_edge_rays_are_said_to_fall_back_to_uniform_draws_when_the_frames_stream(tiny_scene, caplog):
    from panolift.lift.trainer import Trainer

    scene = Scene(tiny_scene)
    config = tiny_config()
    config.train.max_memory, config.train.edge_rays = STREAM, 0.3
    with caplog.at_level("WARNING", logger="panolift.lift.trainer"):
        trainer = Trainer(scene, scene.normalization(), config)
    assert trainer.data.streaming
    assert any(
        "--train.edge-rays 0.3" in r.getMessage() and "uniformly" in r.getMessage() for r in caplog.records
    )
    batch = sample_scene_batch(trainer.data, 64, trainer.generator, edge_share=0.3)  # drawn, uniformly
    assert batch["origins"].shape == (64, 3) and trainer.data.boundary is None
