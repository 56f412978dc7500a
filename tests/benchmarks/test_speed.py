"""benchmarks/speed.py on the tiny scene and preset, this checkout only: it trains, renders, scores, times
steps and frames idle and next to a competing job, and writes its table (the figures themselves are the
benchmark's business, not the test's)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "speed.py"


def test_speed_benchmark_runs_end_to_end_on_the_tiny_scene(tmp_path):
    out = tmp_path / "speed"
    command = [
        sys.executable, str(SCRIPT), "--synth", "tiny", "--preset", "tiny", "--iterations", "60",
        "--steps", "3", "--frames", "1", "--out", str(out),
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    rows = json.loads((out / "results.json").read_text())
    assert [r["version"] for r in rows] == ["after"]
    row = rows[0]
    assert row["iterations"] == 60 and row["train_s"] > 0 and 0 < row["peak_rss_gib"] < 8
    for key in ("s_per_it_idle", "s_per_it_loaded", "s_per_frame_idle", "s_per_frame_loaded"):
        assert 0 < row[key] < 60, (key, row[key])
    assert row["threads_idle"] >= 1 and row["threads_loaded"] >= 1 and row["frame_size"] == "64x48"
    assert math.isfinite(row["psnr"]) and 0 <= row["miou"] <= 100 and 0 <= row["pq_scene"] <= 100
    table = (out / "results.md").read_text()
    assert "| after |" in table and "2D machine labels on the same test views" in table
    assert table.strip() in result.stdout
