"""benchmarks/ablation.py: a `--full-run` that is not a `fast` run is refused before any training."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "ablation.py"


def test_a_full_run_of_another_preset_is_refused(tiny_run, tmp_path):
    # the tiny run's preset is `tiny`; `make demo`'s run is `quick`: neither is the variants' `fast`
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--full-run", str(tiny_run), "--work", str(tmp_path / "work")],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode != 0
    assert str(tiny_run) in result.stderr and "'tiny' preset" in result.stderr
    assert not (tmp_path / "work").exists()  # refused before synthesizing or training anything
