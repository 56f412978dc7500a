"""benchmarks/gpu_scale.py in its CPU smoke configuration (`--smoke`): both presets train for the same
budget, are evaluated along the way, and the tables and results.json say so; a second run reuses the scene."""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
from itertools import pairwise
from pathlib import Path

import pytest

from panolift.config import fast_config, paper_config

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "gpu_scale.py"
HANG_S = 600  # a guard against a hang, not a speed requirement


def run_script(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    command = [sys.executable, str(SCRIPT), "--device", "cpu", "--threads", "1", *args]
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=HANG_S)


@pytest.fixture(scope="module")
def smoke(tmp_path_factory) -> tuple[subprocess.CompletedProcess, Path]:
    work = tmp_path_factory.mktemp("gpu_scale")
    return run_script(work, "--smoke", "--out", str(work / "out")), work / "out"


def test_smoke_prints_a_row_per_preset(smoke):
    result, out = smoke
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "synthesizing" in result.stdout
    schedules = {"fast": fast_config().train.iterations, "paper": paper_config().train.iterations}
    for preset, schedule in schedules.items():
        rows = re.findall(rf"^\| {preset} \| (\d+) \({schedule}", result.stdout, re.M)
        assert len(rows) == 1 and int(rows[0]) > 0, result.stdout
        assert re.search(rf"^## {preset}$", result.stdout, re.M)
    assert (out / "results.md").read_text().strip() in result.stdout


def test_smoke_results_json(smoke):
    result, out = smoke
    assert result.returncode == 0, result.stderr[-3000:]
    results = json.loads((out / "results.json").read_text())
    scene = results["scene"]
    assert (scene["frames"], scene["width"], scene["height"], scene["synthesized"]) == (12, 64, 48, True)
    assert results["device"] == "cpu" and results["seconds"] == 3.0
    assert len(results["eval_frames"]) == 3
    assert all(0.0 < results["machine_labels"][k] < 1.0 for k in ("miou", "pq_scene"))
    presets = results["presets"]
    assert set(presets) == {"fast", "paper"}
    # --smoke scales the rays per step by 1/16, keeping each preset's own ratio
    assert (presets["fast"]["rays_scene"], presets["fast"]["rays_image"]) == (64, 32)
    assert (presets["paper"]["rays_scene"], presets["paper"]["rays_image"]) == (256, 64)
    for name, row in presets.items():
        assert row["status"] == "ok", name
        assert row["steps"] > 0 and row["its_per_second"] > 0, name
        assert row["train_seconds"] >= results["seconds"], name  # trained until the clock ran out
        assert row["its_per_second"] == pytest.approx(row["steps"] / row["train_seconds"]), name
        assert row["peak_memory_bytes"] > 0 and "RSS" in row["memory_kind"], name
        curve = row["curve"]
        assert len(curve) >= 2, name
        assert (curve[0]["step"], curve[0]["seconds"]) == (0, 0.0), name  # the untrained field first
        assert curve[-1]["step"] == row["steps"], name  # and the last step last
        assert all(a["step"] < b["step"] and a["seconds"] < b["seconds"] for a, b in pairwise(curve))
        for point in curve:
            assert all(
                isinstance(point[k], float) and math.isfinite(point[k]) for k in ("psnr", "miou", "pq_scene")
            )
            assert (
                0.0 < point["psnr"] < 100.0
                and 0.0 <= point["miou"] <= 1.0
                and 0.0 <= point["pq_scene"] <= 1.0
            )
        assert row["final"] == {k: v for k, v in curve[-1].items() if k != "seconds"}, name


def test_smoke_time_to_quality(smoke):
    result, out = smoke
    assert result.returncode == 0, result.stderr[-3000:]
    results = json.loads((out / "results.json").read_text())
    rows, target = results["presets"].values(), results["target"]
    assert target["psnr"] == pytest.approx(max(r["final"]["psnr"] for r in rows) - 1.0)
    assert target["miou"] == pytest.approx(max(r["final"]["miou"] for r in rows) - 0.02)
    for row in rows:
        met = [p for p in row["curve"] if p["psnr"] >= target["psnr"] and p["miou"] >= target["miou"]]
        expected = {"seconds": met[0]["seconds"], "step": met[0]["step"]} if met else None
        assert row["time_to_quality"] == expected, row["preset"]
        if expected is None:
            assert re.search(rf"^\| {row['preset']} \|.*\| not reached \|", result.stdout, re.M)
    best = [
        r
        for r in rows
        if r["final"]["psnr"] >= target["psnr"] + 1.0 and r["final"]["miou"] >= target["miou"] + 0.02
    ]
    assert all(r["time_to_quality"] is not None for r in best)  # best on both: reached at its end at least


def test_second_run_reuses_the_scene(smoke, tmp_path):
    first, out = smoke
    assert first.returncode == 0, first.stderr[-3000:]
    scene = json.loads((out / "results.json").read_text())["scene"]["path"]  # absolute, as --out was
    result = run_script(
        tmp_path, "--smoke", "--scene", str(scene), "--presets", "fast", "--seconds", "0.5",
        "--eval-every", "0", "--out", str(tmp_path / "out"),
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "reusing the scene" in result.stdout and "synthesizing" not in result.stdout
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    assert results["scene"]["synthesized"] is False and list(results["presets"]) == ["fast"]
    assert [p["step"] for p in results["presets"]["fast"]["curve"]][0] == 0
    assert len(results["presets"]["fast"]["curve"]) == 2  # --eval-every 0: the start and the end only
