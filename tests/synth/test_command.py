"""`panolift synth`: writes a scene and prints a summary with the machine labels' mIoU."""

from __future__ import annotations

import re

import pytest

from panolift.commands.synth import synth
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
