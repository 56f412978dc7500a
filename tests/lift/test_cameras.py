"""Per-frame camera refinement (`train.refine_cameras`): the rotation maths, the rays of refined cameras,
and a training that moves cameras knocked off their true poses back towards them."""

from __future__ import annotations

import dataclasses
import math
import re
import shutil

import numpy as np
import pytest
import torch

from panolift.cli import main
from panolift.config import tiny_config
from panolift.lift.batching import rays_for_pixels
from panolift.lift.cameras import FrameCameras, so3_exp
from panolift.lift.trainer import Trainer
from panolift.runs import check_against_inputs, latest_checkpoint, load_run, train_run
from panolift.runs.checkpoints import read_checkpoint
from panolift.runs.training import TrainingRun
from panolift.scene import Scene


def rodrigues(w: np.ndarray) -> np.ndarray:
    """A rotation vector's matrix, as scipy's Rotation.from_rotvec would give it (written out here)."""
    theta = float(np.linalg.norm(w))
    if theta == 0:
        return np.eye(3)
    k = w / theta
    K = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    return np.eye(3) + math.sin(theta) * K + (1 - math.cos(theta)) * K @ K


def test_so3_exp_is_rodrigues_and_stays_a_rotation_near_zero():
    rng = np.random.default_rng(0)
    w = rng.normal(size=(50, 3)) * rng.choice([1e-9, 1e-5, 0.01, 0.5, 2.0], size=(50, 1))
    got = so3_exp(torch.as_tensor(w)).numpy()
    want = np.stack([rodrigues(v) for v in w])
    assert np.allclose(got, want, atol=1e-12)
    assert np.allclose(got @ got.transpose(0, 2, 1), np.eye(3), atol=1e-12)
    assert torch.equal(so3_exp(torch.zeros(2, 3)), torch.eye(3).expand(2, 3, 3))
    # the gradient at zero (where training starts) is finite and is the cross product's
    w0 = torch.zeros(3, requires_grad=True)
    d = torch.tensor([0.0, 0.0, 1.0])
    (so3_exp(w0) @ d).sum().backward()
    assert torch.allclose(w0.grad, torch.tensor([-1.0, 1.0, 0.0]))  # w x d = (wy, -wx, 0)


def test_refined_rays_are_the_rays_of_the_refined_poses_and_centred(tiny_scene):
    config = tiny_config()
    config.train.refine_cameras = True
    scene = Scene(tiny_scene)
    trainer = Trainer(scene, scene.normalization(config.train.max_depth), config)
    cameras, data = trainer.cameras, trainer.data
    frames = torch.arange(data.num_frames).repeat_interleave(5)
    pixels = torch.randint(data.width * data.height, frames.shape, generator=torch.Generator().manual_seed(1))
    origins, dirs = rays_for_pixels(data, frames, pixels)
    got = cameras(origins, dirs, frames)
    assert torch.equal(got[0], origins) and torch.allclose(got[1], dirs)  # zero: the poses as given
    with torch.no_grad():
        cameras.rotation.normal_(std=0.02)
        cameras.shift.normal_(std=0.01)
    rays = cameras(origins, dirs, frames)
    given = data.c2w
    with trainer.refined_poses():
        assert not torch.equal(trainer.data.c2w, given)  # the refined poses, swapped in
        refined = rays_for_pixels(trainer.data, frames, pixels)
    assert trainer.data.c2w is given  # and out again
    assert torch.allclose(rays[0], refined[0], atol=1e-6) and torch.allclose(rays[1], refined[1], atol=1e-6)
    assert torch.allclose(torch.linalg.norm(rays[1], dim=1), torch.ones(len(frames)), atol=1e-5)
    before = cameras(origins, dirs, frames)
    with torch.no_grad():  # the same correction of every frame is no correction: the gauge is fixed
        cameras.rotation += torch.tensor([0.1, -0.2, 0.05])
        cameras.shift += 0.3
    after = cameras(origins, dirs, frames)
    assert torch.allclose(before[0], after[0], atol=1e-6) and torch.allclose(before[1], after[1], atol=1e-6)
    assert "rotation median" in cameras.summary(2.0) and "scene units" in cameras.summary()


def test_camera_checkpoint_tensors_round_trip_and_check_the_frame_count():
    cameras = FrameCameras(3)
    with torch.no_grad():
        cameras.rotation.normal_()
        cameras.shift.normal_()
    other = FrameCameras(3)
    other.load(cameras.tensors())
    assert torch.equal(other.rotation, cameras.rotation) and torch.equal(other.shift, cameras.shift)
    FrameCameras(3).load({})
    with pytest.raises(ValueError, match="5 training frames"):
        FrameCameras(5).load(cameras.tensors())


def test_only_the_colour_moves_the_cameras(tiny_scene):
    """Under gradient blocking the labels' losses reach no camera (as they reach no density); without the
    option no camera is learnt at all."""
    config = tiny_config()
    config.train.refine_cameras, config.train.cameras_start = True, 0.0
    scene = Scene(tiny_scene)
    trainer = Trainer(scene, scene.normalization(config.train.max_depth), config)
    for _ in range(3):
        trainer.train_step()
    losses = trainer.compute_losses(trainer.step)
    grads = torch.autograd.grad(
        losses["semantic"], [trainer.cameras.rotation, trainer.cameras.shift], allow_unused=True
    )
    assert all(g is None or float(g.abs().max()) == 0.0 for g in grads)
    grads = torch.autograd.grad(losses["rgb"], [trainer.cameras.rotation, trainer.cameras.shift])
    assert all(float(g.abs().max()) > 0.0 for g in grads)
    plain = Trainer(scene, scene.normalization(config.train.max_depth), tiny_config())
    plain.train_step()
    meta, tensors = plain.state()
    assert plain.cameras is None and "cameras" not in meta["optimizers"]
    assert not any(key.startswith("cameras.") for key in tensors)


def knock(c2w: np.ndarray, degrees: float, shift: float, rng: np.random.Generator) -> np.ndarray:
    """``c2w`` (F, 4, 4) with each camera turned about its centre by about ``degrees`` and its centre moved
    by about ``shift``, the turns and moves centred over the frames (a shared one is no error)."""
    w = rng.normal(size=(len(c2w), 3))
    w = w / np.linalg.norm(w, axis=1, keepdims=True) * math.radians(degrees)
    t = rng.normal(size=(len(c2w), 3))
    t = t / np.linalg.norm(t, axis=1, keepdims=True) * shift
    w, t = w - w.mean(0), t - t.mean(0)
    out = c2w.copy()
    for i in range(len(c2w)):
        out[i, :3, :3] = rodrigues(w[i]) @ c2w[i, :3, :3]
        out[i, :3, 3] = c2w[i, :3, 3] + t[i]
    return out


def camera_errors(c2w: np.ndarray, true: np.ndarray) -> tuple[float, float]:
    """Mean rotation error in degrees and mean centre error between two (F, 4, 4) pose sets."""
    cos = (np.einsum("fij,fij->f", c2w[:, :3, :3], true[:, :3, :3]) - 1.0) / 2.0
    degrees = np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))
    return float(degrees.mean()), float(np.linalg.norm(c2w[:, :3, 3] - true[:, :3, 3], axis=1).mean())


@pytest.fixture(scope="module")
def knocked_scene(tiny_scene, tmp_path_factory):
    """The tiny room with its training cameras 1.5 degrees and 2 cm off their true poses (its test cameras
    exact), and the true training poses."""
    root = tmp_path_factory.mktemp("cameras") / "tiny-knocked"
    shutil.copytree(tiny_scene, root)
    scene = Scene(root)
    names = list(scene.train_frames)
    true = np.stack([scene.pose(n) for n in names])
    knocked = knock(true, 1.5, 0.02, np.random.default_rng(3))
    for name, pose in zip(names, knocked, strict=True):
        np.savetxt(root / "pose" / f"{name}.txt", pose)
    return root, true


def test_training_moves_knocked_cameras_towards_their_true_poses(knocked_scene, tmp_path, capsys):
    """Trained with the option, the refined training cameras are nearer the truth than the knocked ones
    they started from (their shifts no farther), the corrections are kept in the run, and the run's
    check against its inputs renders the training views from the refined cameras."""
    root, true = knocked_scene
    config = tiny_config()
    config.train.refine_cameras = True
    run = train_run(root, tmp_path / "run", config, device="cpu")
    loaded = load_run(run)
    assert loaded.frame_cameras is not None
    scene = Scene(root)
    given = [scene.pose(n) for n in scene.train_frames]
    refined = np.stack(
        [
            loaded.frame_cameras.refine_world_pose(pose, i, loaded.normalization)
            for i, pose in enumerate(given)
        ]
    )
    before, after = camera_errors(np.stack(given), true), camera_errors(refined, true)
    assert before[0] > 1.0  # the knock is a real one: 1.47 deg, 1.6 cm
    # 1.47 -> 0.94 deg and 1.6 -> 1.4 cm at the defaults (600 steps of the 9-frame tiny room)
    assert after[0] < 0.8 * before[0], (before, after)
    assert after[1] < 1.3 * before[1], (before, after)
    refined_check = check_against_inputs(loaded).psnr
    given_check = check_against_inputs(dataclasses.replace(loaded, frame_cameras=None)).psnr
    assert refined_check > given_check, (refined_check, given_check)
    main(["info", str(run)])
    assert re.search(r"cameras      refined: rotation median \d\.\d\d deg", capsys.readouterr().out)


def test_a_run_refining_its_cameras_resumes_exactly(knocked_scene, tmp_path):
    """Killed at step 30 and resumed, the run goes on as if never stopped: the corrections and their
    optimizers come back from the checkpoint."""
    root, _ = knocked_scene
    config = tiny_config()
    config.train.refine_cameras = True
    train = config.train
    train.iterations, train.checkpoint_every, train.log_every = 50, 30, 2
    train.occupancy_steps, train.shrink_step, train.upsample_steps = (10, 20), 20, (15,)
    with TrainingRun(root, tmp_path / "full", config) as full:
        full.run()
        want, rotation = full.trainer.history, full.trainer.cameras.rotation.detach().clone()
    with TrainingRun(root, tmp_path / "part", config) as part:
        part.run(stop_at=30)
    meta, tensors = read_checkpoint(latest_checkpoint(tmp_path / "part"))
    assert "cameras.rotation" in tensors and {"cameras", "camera_shift"} <= set(meta["optimizers"])
    with TrainingRun(root, tmp_path / "part", resume=True) as resumed:
        assert resumed.trainer.step == 30 and resumed.trainer.cameras.rotation.abs().max() > 0
        resumed.run()
        got = resumed.trainer.history
    assert [h["step"] for h in want] == [h["step"] for h in got]
    for a, b in zip(want, got, strict=True):
        for key in ("rgb", "total"):
            assert b[key] == pytest.approx(a[key], rel=1e-4, abs=1e-7), (a["step"], key)
    assert torch.allclose(resumed.trainer.cameras.rotation, rotation, atol=1e-6)
