"""Training into run folders on the tiny scene: losses fall, 3D-consistent instances, resume, checkpoints,
rendering, the CLI, and the folder's guards (a lock, one scene per run, stale temporary files)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from panolift.config import tiny_config
from panolift.errors import OptionError
from panolift.render import render_image, snap_to_colour
from panolift.runs import TrainingRun, latest_checkpoint, load_run, read_checkpoint, render_run
from panolift.scene import Scene, SceneError
from panolift.scene.io import read_label, read_rgb


@pytest.fixture
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _history(run: Path) -> list[dict]:
    meta, _ = read_checkpoint(latest_checkpoint(run))
    return meta["history"]


def test_tiny_run_lowers_every_loss(either_run):
    history = _history(either_run)
    assert history[-1]["step"] == tiny_config().train.iterations
    for key in ("rgb", "semantic", "instance", "consistency"):
        values = [h[key] for h in history if key in h]
        assert len(values) >= 9, key
        third = len(values) // 3
        first, last = np.mean(values[:third]), np.mean(values[-third:])
        assert last < first, f"{key}: {first:.4f} -> {last:.4f}"


def test_tiny_run_renders_consistent_instances(either_run, tiny_scene, tmp_path):
    """A 3D instance is a (class, id) pair: each object must keep its pair from test view to test view."""
    out = render_run(either_run, "test", out=tmp_path / "test")
    scene = Scene(tiny_scene)
    loaded = load_run(either_run)
    pairs_of: dict[int, set[tuple[int, int]]] = {}
    views_of: dict[int, int] = {}
    for name in scene.test_frames:
        pred = read_label(out / "instance" / f"{name}.png")
        sem = read_label(out / "semantics" / f"{name}.png")
        assert pred.shape == (scene.height, scene.width)
        assert ((pred > 0) == np.isin(sem, loaded.class_set.thing_ids)).all()  # ids exactly on things
        gt = scene.ground_truth(name).instance
        for gt_id in np.unique(gt[gt > 0]):
            on = (gt == gt_id) & (pred > 0)
            if on.sum() >= 20:  # visible and predicted as a thing in this view
                pair = (int(np.bincount(sem[on]).argmax()), int(np.bincount(pred[on]).argmax()))
                pairs_of.setdefault(int(gt_id), set()).add(pair)
                views_of[int(gt_id)] = views_of.get(int(gt_id), 0) + 1
    assert len(pairs_of) >= 2, f"too few objects predicted as things: {pairs_of}"
    assert max(views_of.values()) >= 2, f"no object predicted in two test views: {views_of}"
    changing = {k: v for k, v in pairs_of.items() if len(v) > 1}
    assert not changing, f"objects whose (class, id) changes across views: {changing}"
    pairs = [next(iter(v)) for v in pairs_of.values()]
    assert len(set(pairs)) == len(pairs), f"distinct objects share a (class, id): {pairs_of}"


def _small_config():
    config = tiny_config()
    train = config.train
    train.iterations, train.checkpoint_every, train.log_every = 40, 20, 2
    train.occupancy_steps, train.shrink_step, train.upsample_steps = (10, 30), 15, (25,)
    config.loss.instance_start, config.loss.consistency_start = 0.2, 0.4
    return config


@pytest.mark.parametrize("embedding", [0, 8])
def test_resume_continues_the_trajectory_and_checkpoints_render_identically(
    tiny_scene, tmp_path, one_thread, embedding, caplog
):
    config = _small_config()
    config.field.instance_embedding = embedding
    with TrainingRun(tiny_scene, tmp_path / "full", config) as full:
        full.run()
    with TrainingRun(tiny_scene, tmp_path / "part", config) as training:
        training.run(stop_at=20)  # "killed" after the checkpoint at step 20
        part = training.trainer
    scene = Scene(tiny_scene)
    pose = scene.pose(scene.test_frames[0])
    before = render_image(part.field, scene.intrinsics, pose, scene.width, scene.height)
    with caplog.at_level("WARNING"):
        loaded = load_run(tmp_path / "part")
    assert loaded.step == 20
    # an embedding run's instances are clustered at the end of training: until then one instance, said so
    assert ("instance clusters are found at the end" in caplog.text) == bool(embedding)
    assert not loaded.field.has_instance_clusters
    after = render_image(loaded.field, scene.intrinsics, pose, scene.width, scene.height)
    for key in ("rgb", "depth", "semantics", "instance"):
        torch.testing.assert_close(before[key], after[key], rtol=0, atol=0)
    bank = part.embedding_bank.means.clone()
    assert (bank.shape[0] > 0) == bool(
        embedding
    )  # other views' negatives, kept since the instance loss began
    del part
    with TrainingRun(tiny_scene, tmp_path / "part", resume=True) as resumed:
        assert resumed.trainer.step == 20
        assert torch.equal(resumed.trainer.embedding_bank.means, bank)  # the checkpoint keeps the bank
        resumed.run()
        assert resumed.trainer.step == 40
    a, b = _history(tmp_path / "full"), _history(tmp_path / "part")
    if embedding:
        full_field, part_field = load_run(tmp_path / "full").field, load_run(tmp_path / "part").field
        torch.testing.assert_close(
            full_field.instance_centres, part_field.instance_centres, rtol=1e-4, atol=1e-5
        )
    assert [h["step"] for h in a] == [h["step"] for h in b]
    for ha, hb in zip(a, b, strict=True):
        for key in ("rgb", "semantic", "instance", "consistency", "total"):
            if key in ha:
                assert hb[key] == pytest.approx(ha[key], rel=1e-4, abs=1e-6), (ha["step"], key)


def test_an_embedding_run_keeps_its_instance_clusters_with_thing_classes(tiny_embed_run, tiny_scene):
    field = load_run(tiny_embed_run).field
    assert field.config.instance_embedding == 8 and field.has_instance_clusters
    assert 2 <= field.instance_centres.shape[0] <= 30  # 7 objects: a cluster or two per object
    prior = field.slot_class_prior
    count = int(field.instance_of_centre.max()) + 1
    assert prior.shape == (count, Scene(tiny_scene).class_set.num_classes) and count >= 2
    torch.testing.assert_close(prior.sum(-1), torch.ones(count))  # every instance has rays
    assert set(prior.argmax(-1).tolist()) <= set(Scene(tiny_scene).class_set.thing_ids)


def test_a_second_run_into_the_same_folder_needs_resume(tiny_scene, tmp_path, one_thread):
    config = _small_config()
    config.train.iterations = 4
    with TrainingRun(tiny_scene, tmp_path / "run", config) as training:
        training.run()
    with pytest.raises(SceneError, match="resume"):
        TrainingRun(tiny_scene, tmp_path / "run", config)


def test_training_never_reads_ground_truth(tiny_scene, tmp_path, monkeypatch, one_thread):
    def forbidden(self, name):
        raise AssertionError("training read ground truth")

    monkeypatch.setattr(Scene, "ground_truth", forbidden)
    config = _small_config()
    config.train.iterations = 12
    with TrainingRun(tiny_scene, tmp_path / "run", config) as training:
        training.run()


def test_render_run_writes_every_output_and_a_video(tiny_run, tiny_scene, tmp_path):
    scene = Scene(tiny_scene)
    out = render_run(tiny_run, "train", out=tmp_path / "train", width=40)
    for name in scene.train_frames:
        rgb = read_rgb(out / "rgb" / f"{name}.png")
        assert rgb.shape == (30, 40, 3)
        assert read_label(out / "depth" / f"{name}.png").shape == (30, 40)
        assert read_label(out / "semantics" / f"{name}.png").max() < scene.class_set.num_classes
        assert (out / "instance" / f"{name}.png").exists() and (out / "overlay" / f"{name}.png").exists()
    trajectory = tmp_path / "trajectory.json"
    trajectory.write_text(json.dumps([scene.pose(n).tolist() for n in scene.frame_names[:3]]))
    video_dir = render_run(tiny_run, trajectory=trajectory, out=tmp_path / "traj")
    assert sorted(p.name for p in (video_dir / "rgb").iterdir()) == ["00000.png", "00001.png", "00002.png"]
    assert (video_dir / "video.mp4").stat().st_size > 0


def test_render_run_merges_specks_by_the_runs_setting_or_the_option(tiny_run, tiny_scene, tmp_path):
    scene = Scene(tiny_scene)

    def segments(folder: Path) -> int:  # distinct thing segments (class, id) over the rendered frames
        keys = set()
        for name in scene.train_frames:
            sem = read_label(folder / "semantics" / f"{name}.png")
            ins = read_label(folder / "instance" / f"{name}.png")
            keys |= {(name, int(c), int(i)) for c, i in zip(sem[ins > 0], ins[ins > 0], strict=True)}
        return len(keys)

    kept = render_run(tiny_run, "train", out=tmp_path / "kept", width=40, min_segment_share=0.0)
    merged = render_run(tiny_run, "train", out=tmp_path / "merged", width=40, min_segment_share=0.2)
    assert segments(merged) < segments(kept)  # the tiny run's instance head is noisy: many small segments
    for name in scene.train_frames:  # every thing segment left covers at least 20% of its frame
        sem = read_label(merged / "semantics" / f"{name}.png").astype(np.int64)
        ins = read_label(merged / "instance" / f"{name}.png").astype(np.int64)
        _, counts = np.unique((sem * 65536 + ins)[ins > 0], return_counts=True)
        assert (counts >= 0.2 * sem.size).all()
    with pytest.raises(OptionError, match="min-segment-share"):
        render_run(tiny_run, "train", out=tmp_path / "bad", width=40, min_segment_share=1.0)


def test_render_run_snaps_labels_to_the_colour_by_the_runs_setting_or_the_option(
    tiny_run, tiny_scene, tmp_path
):
    """The tiny run keeps the default (no snap): its labels as they come; with the option, the labels of
    each frame are the unsnapped ones snapped to the frame's rendered colour."""
    scene = Scene(tiny_scene)
    plain = render_run(tiny_run, "test", out=tmp_path / "plain", width=40, min_segment_share=0.0)
    again = render_run(
        tiny_run, "test", out=tmp_path / "again", width=40, min_segment_share=0.0, label_snap_radius=0.0
    )
    snapped = render_run(
        tiny_run, "test", out=tmp_path / "snapped", width=40, min_segment_share=0.0, label_snap_radius=0.05
    )
    changed = 0
    for name in scene.test_frames:
        sem = read_label(plain / "semantics" / f"{name}.png").astype(np.int64)
        ins = read_label(plain / "instance" / f"{name}.png").astype(np.int64)
        assert np.array_equal(sem, read_label(again / "semantics" / f"{name}.png"))
        rgb = read_rgb(plain / "rgb" / f"{name}.png").astype(np.float32) / 255.0
        want_sem, want_ins = snap_to_colour(sem, ins, rgb, radius=2)  # 0.05 of 40 pixels
        got_sem = read_label(snapped / "semantics" / f"{name}.png").astype(np.int64)
        got_ins = read_label(snapped / "instance" / f"{name}.png").astype(np.int64)
        # the snap saw the colour before its 8-bit rounding: the same labels but for a rare tie
        assert (got_sem == want_sem).mean() > 0.98 and (got_ins == want_ins).mean() > 0.98
        changed += int((got_sem != sem).sum())
    assert changed > 0
    with pytest.raises(OptionError, match="label-snap-radius"):
        render_run(tiny_run, "test", out=tmp_path / "bad", width=40, label_snap_radius=0.5)


@pytest.mark.parametrize(
    "verdict",
    ["unvoted surface", "no surface", "voted surface"],
)
def test_render_run_merges_small_classes_that_no_view_labelled(
    tiny_run, tiny_scene, tmp_path, monkeypatch, verdict
):
    """``render.unlabelled_class_share``: with every rendered pixel labelled by no training view (the
    votes' verdict stubbed; the tiny run keeps no votes), each class the split shows on fewer pixels than
    that share of one frame is merged into its surroundings; at 0 (the run's setting) none is. No training
    view labelled a pixel whose ray ends on a surface without a voted node, nor one whose ray ends on no
    surface at all (opacity under a half: a haze where no view looked); a pixel on a voted surface keeps
    its class."""
    import dataclasses

    import panolift.runs.rendering as rendering

    scene = Scene(tiny_scene)
    unvoted, opaque = {"unvoted surface": (1, 1), "no surface": (0, 0), "voted surface": (0, 1)}[verdict]

    def classes(folder: Path) -> np.ndarray:
        return sum(
            np.bincount(read_label(folder / "semantics" / f"{n}.png").ravel(), minlength=256)
            for n in scene.train_frames
        )

    def masks(field, out):
        shape = out["opacity"].shape
        return np.full(shape, bool(unvoted)), np.full(shape, bool(opaque))

    monkeypatch.setattr(rendering, "unlabelled_mask", masks)
    kept = classes(render_run(tiny_run, "train", out=tmp_path / "kept", width=40, min_segment_share=1e-3))
    frame = read_label(tmp_path / "kept" / "semantics" / f"{scene.train_frames[0]}.png").size
    small = [c for c in range(1, 256) if 0 < kept[c] < 0.5 * frame]
    assert small, "the tiny run shows no small class to merge"
    load = rendering.load_run

    def with_share(*args, **kwargs):
        loaded = load(*args, **kwargs)
        loaded.config.render = dataclasses.replace(loaded.config.render, unlabelled_class_share=0.5)
        return loaded

    monkeypatch.setattr(rendering, "load_run", with_share)
    merged = classes(render_run(tiny_run, "train", out=tmp_path / "merged", width=40, min_segment_share=1e-3))
    if verdict == "voted surface":
        assert (merged == kept).all()  # every class was labelled where it is drawn
        return
    assert all(merged[c] == 0 for c in small) and merged[0] == kept[0]  # void untouched
    assert {c for c in range(1, 256) if merged[c]} == {c for c in range(1, 256) if kept[c] >= 0.5 * frame}
    off = classes(render_run(tiny_run, "train", out=tmp_path / "off", width=40, min_segment_share=0.0))
    assert all(off[c] > 0 for c in small)  # --min-segment-share 0 keeps every class


def test_render_run_precision_option(tiny_run, tiny_scene, tmp_path):
    """``precision`` overrides the run's MLP precision: float32 and bfloat16 frames differ by rounding
    only; an unknown name is an option error before anything is written."""
    scene = Scene(tiny_scene)
    exact = render_run(tiny_run, "train", out=tmp_path / "f32", width=40, precision="float32")
    half = render_run(tiny_run, "train", out=tmp_path / "bf16", width=40, precision="bfloat16")
    for name in scene.train_frames:
        a = read_rgb(exact / "rgb" / f"{name}.png").astype(np.int64)
        b = read_rgb(half / "rgb" / f"{name}.png").astype(np.int64)
        assert np.abs(a - b).max() <= 8 and np.abs(a - b).mean() < 1.0
    with pytest.raises(OptionError, match="--precision half"):
        render_run(tiny_run, "train", out=tmp_path / "bad", width=40, precision="half")
    assert not (tmp_path / "bad").exists()


def test_cli_train_resume_and_render(tiny_scene, tmp_path, one_thread):
    from panolift.cli import main

    run = tmp_path / "cli_run"
    main(["train", str(tiny_scene), "--out", str(run), "--preset", "tiny", "--train.iterations", "6"])
    assert load_run(run).step == 6
    main(["train", str(tiny_scene), "--out", str(run), "--resume"])
    assert load_run(run).step == 6  # already complete: nothing to do
    main(["render", str(run)])
    scene = Scene(tiny_scene)
    assert (run / "render" / "test" / "semantics" / f"{scene.test_frames[0]}.png").exists()
    info = json.loads((run / "run.json").read_text())
    assert Path(info["scene"]).is_absolute() and info["config"]["preset"] == "tiny"


def test_ablation_switches_run(tiny_scene, tmp_path, one_thread):
    from panolift.lift.batching import frame_targets, load_training_data

    scene = Scene(tiny_scene)
    data = load_training_data(scene, scene.normalization(), num_slots=16, use_tta=False)
    labels = scene.machine_labels(scene.train_frames[0], tta=False)
    usable = labels.semantics.reshape(-1) > 0
    targets = frame_targets(data, 0)
    assert torch.equal(
        targets["probability"].argmax(-1)[usable], torch.from_numpy(labels.semantics.reshape(-1))[usable]
    )
    np.testing.assert_allclose(
        targets["confidence"].numpy()[usable], labels.confidence_notta.reshape(-1)[usable], atol=2.5e-3
    )
    config = _small_config()
    config.train.iterations = 20
    loss = config.loss
    loss.segment_consistency = loss.use_tta = loss.bounded = loss.gradient_blocking = False
    with TrainingRun(tiny_scene, tmp_path / "ablation", config) as training:
        training.run()
        trainer = training.trainer
    history = _history(tmp_path / "ablation")
    assert not any("consistency" in h for h in history) and any("instance" in h for h in history)
    assert all(np.isfinite(h["total"]) for h in history)
    assert not torch.allclose(trainer.field.semantics(torch.zeros(2, 3)).sum(-1), torch.ones(2))  # logits


def test_train_reports_a_malformed_scene_before_writing(tmp_path, tiny_scene) -> None:
    import shutil

    scene = tmp_path / "scene"
    shutil.copytree(tiny_scene, scene)
    (scene / "pose" / "1.txt").write_text("nan 0 0 0\n0 1 0 0\n0 0 1 0\n0 0 0 1\n")
    with pytest.raises(SceneError, match=r"pose/1\.txt.*non-finite"):
        TrainingRun(scene, tmp_path / "run")
    assert not (tmp_path / "run").exists()
    with pytest.raises(SceneError, match="scene folder does not exist|missing colour folder"):
        TrainingRun(tmp_path / "run", scene)  # SCENE and --out swapped


def test_the_cli_takes_every_config_field_and_saves_the_effective_config(tiny_scene, tmp_path, one_thread):
    from panolift.cli import main

    run = tmp_path / "run"
    main([
        "train", str(tiny_scene), "--out", str(run), "--preset", "tiny", "--train.iterations", "3",
        "--field.num-slots", "5", "--loss.no-segment-consistency", "--render.step-ratio", "1.5",
        "--train.shrink-step", "-1",
    ])  # fmt: skip
    config = json.loads((run / "run.json").read_text())["config"]
    assert config["preset"] == "tiny" and config["train"]["iterations"] == 3
    assert config["train"]["upsample_steps"] == list(tiny_config().train.upsample_steps)  # tiny's stay
    assert config["train"]["shrink_step"] == -1
    assert config["field"]["num_slots"] == 5 and config["loss"]["segment_consistency"] is False
    assert config["render"]["step_ratio"] == 1.5
    assert config["field"]["grid_resolution_init"] == tiny_config().field.grid_resolution_init  # the preset's


def test_a_second_writer_is_refused_while_the_first_holds_the_run(tiny_scene, tmp_path, one_thread):
    config = _small_config()
    with TrainingRun(tiny_scene, tmp_path / "run", config):
        with pytest.raises(SceneError, match="another `panolift train` is writing"):
            TrainingRun(tiny_scene, tmp_path / "run", config, resume=True)
    with TrainingRun(tiny_scene, tmp_path / "run", config, resume=True):  # released on exit
        pass


def test_resume_refuses_another_scene_and_uses_run_json_before_the_first_checkpoint(
    tiny_scene, tmp_path, one_thread
):
    import shutil

    config = _small_config()
    with TrainingRun(tiny_scene, tmp_path / "run", config):
        pass  # "killed" before the first checkpoint: run.json only
    assert latest_checkpoint(tmp_path / "run") is None
    other = tmp_path / "other"
    shutil.copytree(tiny_scene, other)
    (other / "pose" / "1.txt").write_text((other / "pose" / "2.txt").read_text())
    with pytest.raises(SceneError, match=r"was trained on .*tiny.*not on .*other.*poses_sha1"):
        TrainingRun(other, tmp_path / "run", resume=True)
    command_line = tiny_config()  # another preset's values on the command line are ignored on resume
    with TrainingRun(tiny_scene, tmp_path / "run", command_line, resume=True) as training:
        assert training.trainer.config.train.iterations == config.train.iterations
        assert training.trainer.step == 0


def test_stale_temporary_files_of_a_killed_checkpoint_write_are_removed(tiny_scene, tmp_path, one_thread):
    config = _small_config()
    config.train.iterations = 2
    with TrainingRun(tiny_scene, tmp_path / "run", config) as training:
        training.run()
    folder = tmp_path / "run" / "checkpoints"
    stale = [folder / ".step_000004.x1y2.safetensors", folder / ".latest.abcd.json"]
    for path in stale:
        path.write_bytes(b"partial")
    with TrainingRun(tiny_scene, tmp_path / "run", resume=True):
        assert not any(path.exists() for path in stale)


def test_resume_from_a_moved_scene_updates_run_json(tiny_scene, tmp_path, one_thread):
    import shutil

    config = _small_config()
    config.train.iterations = 4
    scene = tmp_path / "scene"
    shutil.copytree(tiny_scene, scene)
    with TrainingRun(scene, tmp_path / "run", config) as training:
        training.run()
    moved = tmp_path / "moved"
    scene.rename(moved)
    with pytest.raises(SceneError, match=r"run\.json: the scene the run was trained on, .*scene, is gone"):
        render_run(tmp_path / "run", width=16, out=tmp_path / "out")
    with TrainingRun(moved, tmp_path / "run", resume=True):
        pass
    assert json.loads((tmp_path / "run" / "run.json").read_text())["scene"] == str(moved.resolve())
    render_run(tmp_path / "run", width=16, out=tmp_path / "out")
