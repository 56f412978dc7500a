"""`panolift synth`: writes a scene and prints a summary with the machine labels' mIoU."""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import pytest

from panolift.commands.synth import synth
from panolift.errors import OptionError
from panolift.scene import Scene, SceneError


def test_synth_command_tiny(tmp_path, capsys):
    out = tmp_path / "scene"
    synth(out, preset="tiny", seed=1)
    text = capsys.readouterr().out
    assert "frames       12 (train 9, test 3), 64x48" in text
    miou = float(re.search(r"machine mIoU (\d+\.\d)", text).group(1))
    assert 20.0 < miou < 99.0  # noisy: clearly below 100
    Scene(out).validate()
    with pytest.raises(SceneError, match="not empty"):
        synth(out, preset="tiny", seed=1)
    synth(out, preset="tiny", seed=2, overwrite=True)
    assert "(seed 2)" in capsys.readouterr().out


@pytest.mark.parametrize("seed", [-1, 2**32])
def test_synth_seed_out_of_range_is_an_option_error(tmp_path, seed):
    with pytest.raises(OptionError, match="--seed"):
        synth(tmp_path / "scene", preset="tiny", seed=seed)
    assert not (tmp_path / "scene").exists()  # nothing written


def test_synth_camera_jitter_options(tmp_path, capsys):
    """--exposure-jitter and --white-balance-jitter give each frame its own per-channel gain: the frames
    are the jitter-free frames times that gain (pixels that saturate aside), and bad values write nothing."""
    from panolift.synth import SYNTH_PRESETS
    from panolift.synth.synthesize import frame_gain

    plain, jittered = tmp_path / "plain", tmp_path / "jittered"
    synth(plain, preset="tiny", seed=3)
    synth(jittered, preset="tiny", seed=3, exposure_jitter=0.3, white_balance_jitter=0.1)
    assert "moderate exposure 30% white balance 10%" in capsys.readouterr().out  # the describe line
    config = dataclasses.replace(
        SYNTH_PRESETS["tiny"], seed=3,
        appearance=dataclasses.replace(SYNTH_PRESETS["tiny"].appearance, exposure_jitter=0.3, white_balance_jitter=0.1),
    )  # fmt: skip
    a, b = Scene(plain), Scene(jittered)
    ratios = []
    for name in a.frame_names:
        x, y = a.rgb(name).reshape(-1, 3), b.rgb(name).reshape(-1, 3)
        gain = frame_gain(config, int(name))
        keep = (x > 0.05).all(axis=1) & (x * gain < 0.95).all(axis=1)  # neither dark nor saturated
        ratios.append(np.median(y[keep] / x[keep], axis=0) / gain)
    assert np.allclose(ratios, 1.0, atol=0.03), np.round(ratios, 3)
    gains = np.array([frame_gain(config, int(n)) for n in a.frame_names])
    assert gains.std() > 0.1 and np.abs(np.log(gains[:, 0] / gains[:, 1])).max() > 0.02  # per channel
    with pytest.raises(OptionError, match="--exposure-jitter"):
        synth(tmp_path / "bad", preset="tiny", exposure_jitter=-0.1)
    assert not (tmp_path / "bad").exists()


def test_synth_surface_options(tmp_path, capsys):
    """--gloss and --reflection make any preset's glossy surfaces shine and reflect: the same ground truth,
    other colours on the floor, and bad values write nothing."""
    plain, shiny = tmp_path / "plain", tmp_path / "shiny"
    synth(plain, preset="tiny", seed=3)
    synth(shiny, preset="tiny", seed=3, gloss=1.0, reflection=0.3)
    assert "gloss 1.0 mirror 0.30" in capsys.readouterr().out  # the describe line
    a, b = Scene(plain), Scene(shiny)
    changed = []
    for name in a.test_frames:
        np.testing.assert_array_equal(a.ground_truth(name).semantics, b.ground_truth(name).semantics)
        floor = a.ground_truth(name).semantics == a.class_set.names.index("floor")
        diff = np.abs(b.rgb(name) - a.rgb(name)).max(axis=-1)
        changed.append((diff[floor] > 0.02).mean())
    assert max(changed) > 0.2  # the floor shows highlights and the room's image
    for option in ({"gloss": 2.5}, {"reflection": -0.1}):
        with pytest.raises(OptionError, match="--" + next(iter(option))):
            synth(tmp_path / "bad", preset="tiny", **option)
        assert not (tmp_path / "bad").exists()


def test_synth_platform_preset(tmp_path, capsys):
    """--preset platform: the suite room with a raised floor, its split on the describe line."""
    from panolift.synth.suite import platform_config

    synth(tmp_path / "scene", preset="platform", seed=229, num_frames=4, size=(48, 48), light=True)
    text = capsys.readouterr().out
    height, depth = platform_config(229).platform
    assert re.search(rf"describe .* platform {height:.2f}x{depth:.1f} \(held-out\)", text)
    assert Scene(tmp_path / "scene").segmentation_data["synth_config"]["platform"] == [height, depth]


def test_synth_blur_preset_and_option(tmp_path, capsys):
    """--preset blur: the suite room filmed with motion blur, its split on the describe line; --motion-blur
    sets it on any preset and refuses what is out of range before writing anything."""
    from panolift.synth.suite import blur_config

    synth(tmp_path / "scene", preset="blur", seed=235, num_frames=4, size=(48, 48), light=True)
    blur = blur_config(235).appearance.motion_blur
    assert re.search(rf"describe .* blur {100 * blur:.1f}% \(held-out\)", capsys.readouterr().out)
    assert Scene(tmp_path / "scene").segmentation_data["synth_config"]["appearance"]["motion_blur"] == blur
    synth(tmp_path / "tiny", preset="tiny", num_frames=4, motion_blur=0.03)
    assert Scene(tmp_path / "tiny").segmentation_data["synth_config"]["appearance"]["motion_blur"] == 0.03
    with pytest.raises(OptionError, match="--motion-blur"):
        synth(tmp_path / "bad", preset="tiny", motion_blur=0.5)
    assert not (tmp_path / "bad").exists()
