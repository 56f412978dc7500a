"""Per-frame exposure (`train.frame_exposure`): the gains and offsets, and a training that finds the gains
a synthetic camera applied to its frames."""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import pytest
import torch

from panolift.cli import main
from panolift.config import tiny_config
from panolift.lift.exposure import FrameExposure
from panolift.lift.trainer import Trainer
from panolift.runs import check_against_inputs, latest_checkpoint, load_run, train_run
from panolift.runs.checkpoints import read_checkpoint
from panolift.runs.training import TrainingRun
from panolift.scene import Scene
from panolift.synth import SYNTH_PRESETS, synthesize_scene
from panolift.synth.synthesize import frame_gain


def test_frame_exposure_starts_as_identity_and_applies_centred_gains():
    exposure = FrameExposure(4)
    rgb = torch.rand(6, 3)
    frames = torch.tensor([0, 1, 2, 3, 0, 2])
    assert torch.equal(exposure(rgb, frames), rgb)
    assert float(exposure.prior().detach()) == 0.0
    with torch.no_grad():
        exposure.log_gain.copy_(torch.tensor([[0.2] * 3, [0.0] * 3, [-0.2] * 3, [0.4] * 3]))
        exposure.offset[1] = torch.tensor([0.1, 0.0, -0.1])
    log_gain, offset = exposure.centred()
    assert torch.allclose(log_gain.mean(0), torch.zeros(3), atol=1e-7)
    assert torch.allclose(offset.mean(0), torch.zeros(3), atol=1e-7)
    expected = rgb * torch.exp(log_gain[frames]) + offset[frames]
    assert torch.allclose(exposure(rgb, frames), expected)
    before = exposure(rgb, frames)
    with torch.no_grad():  # the same shift of every frame changes nothing: the field keeps the average
        exposure.log_gain += 0.7
        exposure.offset -= 0.3
    assert torch.allclose(exposure(rgb, frames), before, atol=1e-6)
    assert float(exposure.prior().detach()) > 0
    assert "gains 0.74-1.35" in exposure.summary()  # exp(+-0.3), exp(-0.1), exp(0.1)


def test_frame_exposure_checkpoint_tensors_round_trip_and_check_the_frame_count():
    exposure = FrameExposure(3)
    with torch.no_grad():
        exposure.log_gain.normal_()
        exposure.offset.normal_()
    other = FrameExposure(3)
    other.load(exposure.tensors())
    assert torch.equal(other.log_gain, exposure.log_gain) and torch.equal(other.offset, exposure.offset)
    FrameExposure(3).load({})  # a checkpoint without them: no correction
    with pytest.raises(ValueError, match="5 training frames"):
        FrameExposure(5).load(exposure.tensors())


@pytest.fixture(scope="module")
def jittered_scene(tmp_path_factory):
    """The tiny room with a strong per-frame exposure gain (std 0.3 in log) and no other camera noise."""
    config = SYNTH_PRESETS["tiny"]
    config = dataclasses.replace(
        config, appearance=dataclasses.replace(config.appearance, exposure_jitter=0.3, sensor_noise=0.0)
    )
    root = tmp_path_factory.mktemp("exposure") / "tiny-jitter"
    synthesize_scene(root, config)
    return root, config


def test_training_finds_the_cameras_gains_and_checks_the_run_in_them(jittered_scene, tmp_path, capsys):
    """A run trained with the option learns gains that follow the camera's, keeps them in its checkpoint,
    and its end-of-training check compares each training view in its own exposure (in the field's average
    exposure the views look far worse than the run is)."""
    root, synth = jittered_scene
    config = tiny_config()
    config.train.frame_exposure, config.train.iterations = True, 300
    run = train_run(root, tmp_path / "run", config, device="cpu")
    loaded = load_run(run)
    scene = Scene(root)
    true = np.log([frame_gain(synth, int(name)).mean() for name in scene.train_frames])
    found = loaded.frame_exposure.centred()[0].mean(dim=1).numpy()
    assert np.std(true) > 0.15  # the draw is a real test: gains of about 0.7-1.4
    correlation = float(np.corrcoef(true, found)[0, 1])
    # at the default prior (0.1): 0.89-0.97 over 3 draws
    assert correlation > 0.8, (correlation, true.round(2), found.round(2))
    in_own_exposure = check_against_inputs(loaded).psnr
    in_average_exposure = check_against_inputs(dataclasses.replace(loaded, frame_exposure=None)).psnr
    assert in_own_exposure > in_average_exposure + 1.0, (in_own_exposure, in_average_exposure)
    main(["info", str(run)])
    assert re.search(
        r"exposure     gains \d\.\d\d-\d\.\d\d .* over 9 training frames", capsys.readouterr().out
    )


def test_a_run_with_per_frame_exposure_resumes_exactly(jittered_scene, tmp_path):
    """Killed at step 30 and resumed, the run goes on as if never stopped: the gains, their optimizer
    and the prior come back from the checkpoint."""
    root, _ = jittered_scene
    config = tiny_config()
    config.train.frame_exposure = True
    train = config.train
    train.iterations, train.checkpoint_every, train.log_every = 50, 30, 2
    train.occupancy_steps, train.shrink_step, train.upsample_steps = (10, 20), 20, (15,)
    with TrainingRun(root, tmp_path / "full", config) as full:
        full.run()
        want, gains = full.trainer.history, full.trainer.exposure.log_gain.detach().clone()
    with TrainingRun(root, tmp_path / "part", config) as part:
        part.run(stop_at=30)
    meta, tensors = read_checkpoint(latest_checkpoint(tmp_path / "part"))
    assert "exposure.log_gain" in tensors and "exposure" in meta["optimizers"]
    with TrainingRun(root, tmp_path / "part", resume=True) as resumed:
        assert resumed.trainer.step == 30 and resumed.trainer.exposure.log_gain.abs().max() > 0
        resumed.run()
        got = resumed.trainer.history
    assert [h["step"] for h in want] == [h["step"] for h in got] and all("exposure_prior" in h for h in want)
    for a, b in zip(want, got, strict=True):
        for key in ("rgb", "exposure_prior", "total"):
            assert b[key] == pytest.approx(a[key], rel=1e-4, abs=1e-7), (a["step"], key)
    assert torch.allclose(resumed.trainer.exposure.log_gain, gains, atol=1e-6)


def test_without_the_option_nothing_is_learnt_per_frame(tiny_scene):
    config = tiny_config()
    scene = Scene(tiny_scene)
    trainer = Trainer(scene, scene.normalization(config.train.max_depth), config)
    trainer.train_step()
    meta, tensors = trainer.state()
    assert trainer.exposure is None and "exposure" not in meta["optimizers"]
    assert not any(key.startswith("exposure.") for key in tensors)
