"""benchmarks/profile_step.py on the tiny run: the parts of a training step and of a rendered frame add up to
the measured total, the parts that must be there are, and the run itself is left as it was."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "profile_step.py"


@pytest.fixture(scope="module")
def profiled(tiny_run, tmp_path_factory):
    before = sorted(p.name for p in (tiny_run / "checkpoints").iterdir())
    out = tmp_path_factory.mktemp("profile") / "profile.json"
    command = [
        sys.executable,
        str(SCRIPT),
        str(tiny_run),
        "--steps",
        "4",
        "--frames",
        "1",
        "--json",
        str(out),
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    after = sorted(p.name for p in (tiny_run / "checkpoints").iterdir())
    return result, json.loads(out.read_text()) if out.exists() else None, before, after


def test_training_parts_add_up(profiled):
    result, figures, before, after = profiled
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    train = figures["train"]
    assert train["steps"] == 4 and train["seconds"] > 0
    parts = train["parts"]
    for name in ("density march (steps, skipping)", "density grid", "colour (appearance grid, MLP)",
                 "semantic head (grid, MLP)", "instance head (grid, MLP)", "linear assignment", "losses",
                 "backward", "optimizers (Adam)", "batch sampling", "other"):  # fmt: skip
        assert parts.get(name, 0) > 0, (name, parts)
    assert sum(parts.values()) == pytest.approx(train["seconds"], rel=0.02)
    assert before == after  # profiled on a copy


def test_render_parts_and_tables(profiled):
    result, figures, _, _ = profiled
    assert result.returncode == 0, result.stderr[-3000:]
    render = figures["render"]
    assert render["frames"] == 1 and render["size"] == "64x48" and render["table_seconds"] > 0
    assert render["parts"]["colour (appearance grid, MLP)"] > 0 and render["parts"]["density grid"] > 0
    assert sum(render["parts"].values()) == pytest.approx(render["seconds"], rel=0.02)
    assert "## One training step" in result.stdout and "| **total** |" in result.stdout
    assert "Self CPU" in result.stdout  # the torch profiler's operator table


def test_not_a_run_is_refused(tmp_path):
    result = subprocess.run([sys.executable, str(SCRIPT), str(tmp_path)], capture_output=True, text=True)
    assert result.returncode != 0 and "not a run folder" in result.stderr
