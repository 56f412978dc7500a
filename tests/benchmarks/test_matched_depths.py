"""benchmarks/matched_depths.py on the tiny scene: one row, with matches that agree with the true depth."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "matched_depths.py"


def test_the_benchmark_prints_a_row_per_scene(tiny_scene):
    result = subprocess.run(
        [sys.executable, str(SCRIPT), str(tiny_scene), "--threads", "1"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    rows = [line for line in result.stdout.splitlines() if line.startswith(f"| {tiny_scene.name} |")]
    assert len(rows) == 1, result.stdout
    cells = [c.strip() for c in rows[0].strip("|").split("|")]
    assert int(cells[1]) > 0 and float(cells[3]) >= 5  # training frames; matches a frame
    assert float(cells[4].rstrip("%")) < 8.0 and float(cells[6].rstrip("%")) > 75  # median error, within 15%
