"""Options of the commands that read a run are checked before the run is read (OptionError names them),
and an edited run is never written over a trained one."""

from __future__ import annotations

import pytest

from panolift.edit import Edit
from panolift.errors import OptionError
from panolift.runs import create_edited_run, export_run, render_run
from panolift.scene import SceneError


@pytest.mark.parametrize(
    "options, message",
    [
        ({"resolution": 0}, "--resolution 0"),
        ({"resolution": 100_000}, "--resolution 100000"),
        ({"level": float("nan")}, "--level nan"),
        ({"level": -1.0}, "--level -1.0"),
        ({"format": "obj"}, "--format obj"),
        ({"what": "voxels"}, "--what voxels"),
    ],
)
def test_export_options(options, message, tmp_path):
    with pytest.raises(OptionError, match=message):
        export_run(tmp_path / "no-run", **options)


@pytest.mark.parametrize("width", [-5, 100_000])
def test_render_width(width, tmp_path):
    with pytest.raises(OptionError, match=f"--width {width}"):
        render_run(tmp_path / "no-run", width=width)


@pytest.mark.parametrize(
    "options, message",
    [
        ({"up": (0.0, 0.0, 0.0)}, "--up"),
        ({"up": (0.0, float("nan"), 1.0)}, "--up"),
        ({"resolution": 5000}, "--resolution 5000"),
        ({"dilation": -1}, "--dilation -1"),
        ({"min_component_fraction": 2.0}, "--min-component-fraction 2.0"),
    ],
)
def test_edit_options(options, message, tmp_path):
    with pytest.raises(OptionError, match=message):
        create_edited_run(tmp_path / "no-run", tmp_path / "out", [Edit("delete", 1)], **options)
    assert not (tmp_path / "out").exists()


def test_an_edited_run_is_not_written_over_a_trained_run(tmp_path):
    trained = tmp_path / "trained"
    (trained / "checkpoints").mkdir(parents=True)
    (trained / "checkpoints" / "step_000004.safetensors").write_bytes(b"x")
    with pytest.raises(SceneError, match="a trained run is there"):
        create_edited_run(tmp_path / "run", trained, [Edit("delete", 1)])
    (tmp_path / "file").write_bytes(b"x")
    with pytest.raises(SceneError, match="not a folder"):
        create_edited_run(tmp_path / "run", tmp_path / "file", [Edit("delete", 1)])
