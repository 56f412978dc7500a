"""benchmarks/instance_scaling.py on tiny clutter rooms: one row per object count, with the phases' seconds
per iteration, peak memory, the 3D instances, rendering and scores; the scenes are reused on a second run."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "instance_scaling.py"
HANG_S = 600  # a guard against a hang, not a speed requirement
TINY = ["--frames", "8", "--size", "64", "48", "--iterations", "200", "--preset", "tiny"]


def run_script(cache: Path, out: Path, things: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    command = [
        sys.executable,
        str(SCRIPT),
        "--things",
        things,
        *TINY,
        "--cache",
        str(cache),
        "--out",
        str(out),
    ]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=HANG_S)


@pytest.fixture(scope="module")
def scaling(tmp_path_factory):
    work = tmp_path_factory.mktemp("scaling")
    result = run_script(work / "cache", work / "out", "4,16")
    return result, work


def test_a_row_per_count(scaling):
    result, work = scaling
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    rows = re.findall(r"^\| (\d+) \| (\d+) \|", result.stdout, re.M)
    assert [int(asked) for asked, _ in rows] == [4, 16]
    assert int(rows[1][1]) > int(rows[0][1])  # more objects asked, more things in the room
    assert "13.8 x 10.3" in result.stdout  # the clutter room of seed 0, scaled by 1.3
    assert (work / "out" / "results.md").read_text().strip() in result.stdout


def test_results_json(scaling):
    result, work = scaling
    assert result.returncode == 0, result.stderr[-3000:]
    results = json.loads((work / "out" / "results.json").read_text())
    assert [row["asked"] for row in results["rows"]] == [4, 16]
    for row in results["rows"]:
        assert row["frames"] == 8 and row["labels"]["true"] >= 1
        assert 0 < row["labels"]["views_mean"] <= row["labels"]["views_max"]
        phases = row["seconds_per_iteration"]
        assert len(phases) == 3 and all(s is not None and s > 0 for s in phases)
        assert row["train_peak_bytes"] > 0 and row["render_peak_bytes"] > 0
        assert row["instances"] >= 0 and row["regions_seconds"] > 0 and row["render_seconds_per_frame"] > 0
        scores = row["scores"]
        assert scores["things_true"] >= 1 and 0 <= scores["things_found"] <= scores["things_true"]
        assert 0 <= scores["pq_scene_things"] <= 1 and scores["psnr"] > 10
    run = work / "out" / "runs" / Path(results["rows"][1]["path"]).name
    assert (run / "render" / "test" / "semantics").is_dir()


def test_second_run_reuses_the_scene(scaling):
    result, work = scaling
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.count("synthesizing") == 2
    again = run_script(work / "cache", work / "out2", "4")
    assert again.returncode == 0, again.stderr[-3000:]
    assert "synthesizing" not in again.stdout


def test_bad_counts_are_refused(tmp_path):
    result = run_script(tmp_path / "cache", tmp_path / "out", "ten")
    assert result.returncode != 0 and "--things" in result.stderr
