"""`panolift demo` end to end on the tiny presets: synth -> train -> render -> eval, through the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from panolift.cli import main


def test_demo_runs_end_to_end_and_resumes(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "demo"
    main(["demo", str(out), "--preset", "tiny", "--train-preset", "tiny", "--iterations", "60"])
    printed = capsys.readouterr().out
    for step in ("1/4 synth", "2/4 train", "3/4 render", "4/4 eval"):
        assert step in printed
    assert "machine mIoU" in printed  # the synth summary
    metrics = json.loads((out / "run" / "render" / "test" / "metrics.json").read_text())
    assert set(metrics) >= {"protocol", "prediction", "machine_labels"}
    for key in ("miou", "pq_scene", "psnr"):
        assert metrics["prediction"][key] is not None
    assert 0.0 <= metrics["prediction"]["miou"] <= 1.0
    num_test = len(json.loads((out / "scene" / "splits.json").read_text())["test"])
    assert len(list((out / "run" / "render" / "test" / "semantics").glob("*.png"))) == num_test
    # a second demo reuses the scene and resumes the finished run instead of starting again
    main(["demo", str(out), "--preset", "tiny", "--train-preset", "tiny", "--iterations", "60"])
    assert "scene exists, reusing" in capsys.readouterr().out


def test_cli_lists_every_command(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    printed = capsys.readouterr().out
    for name in ("demo", "info", "synth", "segment", "import", "train", "render", "eval", "edit", "export"):
        assert name in printed


def test_scene_error_exits_cleanly(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["info", str(tmp_path / "missing")])
    assert exc.value.code == 2
    assert "missing: scene folder does not exist" in capsys.readouterr().err


def test_the_demo_trains_quick_unless_told(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    import inspect

    from panolift.commands.demo import demo

    # `make demo` runs `panolift demo demo_out`: `quick` (a third of `fast`'s time, the demo room's labels
    # as `fast` lifts them); a demo of another preset ends by saying how to train `fast`
    assert inspect.signature(demo).parameters["train_preset"].default == "quick"
    out = tmp_path / "demo"
    main(["demo", str(out), "--preset", "tiny", "--train-preset", "tiny", "--iterations", "30"])
    assert "--train-preset fast" in capsys.readouterr().out
