"""A sample of the corpus through the real command line (`python -m panolift.cli`, one process each):
exit status 2, exactly one line on stderr (`error: ...` naming the file), no traceback, no hang."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

CASES = {c.name: c for c in sys.modules["panolift_fuzz_corpus"].all_cases()}
# (case, needs --deep): the harmful and the hanging inputs of issue 12, and one of each kind of file
SAMPLE = [
    ("pickle-hostile-os-system", False),
    ("pickle-shared-10m-list", False),
    ("splits.json:fifo", False),
    ("splits.json:dev-urandom", False),
    ("color/3.jpg:fifo", False),
    ("splits-train-string", False),
    ("classes-1e6", False),
    ("pose-1e30", False),
    ("pose-outlier-1e4", False),
    ("pose-projective-row", False),
    ("m2f-class-id-30", False),
    ("prob-wrong-size", False),
    ("color-truncated-half", True),
    ("prob-nan-after-frame-3", True),
    ("prob-negative", True),
]
TIMEOUT_S = 60


def _info(root: Path, deep: bool) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "panolift.cli", "info", str(root)] + (["--deep"] if deep else [])
    return subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT_S, env=env)


@pytest.fixture(scope="module")
def results(fuzz_base, tmp_path_factory):
    roots = {}
    for name, _ in SAMPLE:
        root = tmp_path_factory.mktemp("cli") / "scene"
        shutil.copytree(fuzz_base, root)
        CASES[name].mutate(root)
        roots[name] = root
    with ThreadPoolExecutor(max_workers=2) as pool:  # two processes at a time: most of each is start-up
        futures = {name: pool.submit(_info, roots[name], deep) for name, deep in SAMPLE}
        return {name: (roots[name], future.result()) for name, future in futures.items()}


@pytest.mark.parametrize("name", [name for name, _ in SAMPLE])
def test_cli_reports_bad_scene_on_one_line(name, results) -> None:
    root, proc = results[name]
    lines = proc.stderr.strip().splitlines()
    assert "Traceback" not in proc.stderr + proc.stdout, proc.stderr
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    assert CASES[name].expect in lines[0] and str(root) in lines[0], lines[0]
    assert not (root.parent / "PWNED").exists()
