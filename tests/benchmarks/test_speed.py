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
    assert "| after, tiny |" in table and "2D machine labels on the same test views" in table
    assert table.strip() in result.stdout


def test_speed_benchmark_trains_suite_rooms_side_by_side(tmp_path):
    """--rooms: each version trained, rendered and scored on a suite room (the smallest, seed 88: 32
    frames), and the time-to-quality table written."""
    out = tmp_path / "speed"
    command = [
        sys.executable, str(SCRIPT), "--rooms-only", "--rooms", "88", "--cache", str(tmp_path / "cache"),
        "--preset", "tiny", "--iterations", "20", "--out", str(out),
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    (row,) = json.loads((out / "rooms.json").read_text())
    assert row["room"] == "88" and row["split"] == "extra" and "32f" in row["descriptor"]
    after = row["after"]
    assert after["iterations"] == 20 and after["train_s"] > 0 and after["preset"] == "tiny"
    assert math.isfinite(after["psnr"]) and 0 <= after["miou"] <= 100 and 0 <= after["pq_scene"] <= 100
    assert 0 < row["labels_miou"] < 100
    table = (out / "results.md").read_text()
    assert "# Time to quality on suite rooms" in table and "| 88 (" in table


def test_the_rooms_table_compares_two_versions():
    sys.path.insert(0, str(SCRIPT.parent))
    from speed import rooms_table

    def scores(seconds, psnr, miou, pq):
        return {"train_s": seconds, "iterations": 100, "psnr": psnr, "miou": miou, "pq_scene": pq}

    rows = [
        {"room": "1", "descriptor": "box", "labels_miou": 50.0, "labels_pq_scene": 30.0,
         "before": scores(400, 30.0, 80.0, 70.0), "after": scores(100, 29.5, 81.0, 69.0) | {"preset": "quick"}},
        {"room": "2", "descriptor": "L", "labels_miou": 40.0, "labels_pq_scene": 20.0,
         "before": scores(300, 31.0, 70.0, 60.0), "after": scores(50, 31.5, 68.0, 62.0)},
    ]  # fmt: skip
    lines = rooms_table(rows, ["before (abc)", "after"])
    assert (
        lines[2].endswith("| 4.00x | -0.50 dB / +1.0 / -1.0 |") and "100 s (quick, 100 it): 29.50" in lines[2]
    )
    assert lines[3].endswith("| 6.00x | +0.50 dB / -2.0 / +2.0 |")
    assert "training 5.00x faster (median; 4.00-6.00x)" in lines[-1]
    assert "PSNR -0.50 dB, mIoU -2.0, PQ^scene -1.0" in lines[-1]
