"""`panolift synth`: writes a scene and prints a summary with the machine labels' mIoU."""

from __future__ import annotations

import re

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
