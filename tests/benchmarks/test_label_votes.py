"""benchmarks/label_votes.py on the tiny run: a row per share, the run itself left as it was."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "label_votes.py"


def test_the_benchmark_scores_each_share_on_a_copy_of_the_run(tiny_run, tmp_path):
    before = sorted(p.name for p in (tiny_run / "checkpoints").iterdir())
    out = tmp_path / "rows.json"
    result = subprocess.run(
        [sys.executable, str(SCRIPT), str(tiny_run), "--shares", "0,0.4", "--threads", "1", "--json", str(out)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    rows = json.loads(out.read_text())
    assert [r["share"] for r in rows] == [0.0, 0.4]
    assert all(0 < r["miou"] <= 1 and r["voted_nodes"] > 0 for r in rows)
    assert rows[0]["psnr"] == rows[1]["psnr"]  # the votes change the classes only
    lines = [line for line in result.stdout.splitlines() if line.startswith(f"| {tiny_run.name} |")]
    assert len(lines) == 2 and "| - |" in lines[0]
    assert sorted(p.name for p in (tiny_run / "checkpoints").iterdir()) == before  # the copy was written


def test_a_folder_without_checkpoints_is_refused(tmp_path):
    result = subprocess.run([sys.executable, str(SCRIPT), str(tmp_path)], capture_output=True, text=True)
    assert result.returncode != 0 and "not a trained run folder" in result.stderr
