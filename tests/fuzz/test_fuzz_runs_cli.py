"""A sample of the run-folder corpus through the real command line (`python -m panolift.cli`, one process
each): every command that reads a run (info, render, eval, edit, export, train --resume) ends with exit
status 2 and exactly one line on stderr (`error: ...` naming the file), no traceback, no hang."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

corpus = sys.modules["panolift_fuzz_run_corpus"]
CASES = {c.name: c for c in corpus.all_cases()}


def _predictions(root: Path) -> None:
    """An (empty) RUN/render/test/semantics, so that `panolift eval RUN` gets as far as run.json."""
    (root / "run" / "render" / "test" / "semantics").mkdir(parents=True)


# (corpus case, command line after `panolift`; {root} and {scene} are filled in)
SAMPLE = [
    ("run.json:fifo", ["info", "{root}/run"]),
    ("ckpt:truncated-half", ["render", "{root}/run", "--device", "cpu"]),
    ("run.json:scene-gone", ["render", "{root}/run", "--device", "cpu", "--width", "16"]),
    ("run.json:garbage", ["eval", "{root}/run"]),
    ("latest.json:missing-file", ["export", "{root}/run", "--device", "cpu", "--resolution", "16"]),
    ("tensor:nan-grid", ["edit", "{root}/run", "--delete", "8", "--out", "{root}/out", "--device", "cpu"]),
    (
        "edits.json:id-string",
        ["edit", "{root}/edited", "--delete", "8", "--out", "{root}/out", "--device", "cpu"],
    ),
    ("edits.json:source-loop", ["export", "{root}/edited", "--device", "cpu", "--resolution", "16"]),
    ("edited:source-retrained-config", ["info", "{root}/edited"]),
    ("resume:moment-shape", ["train", "{scene}", "--out", "{root}/run", "--resume", "--device", "cpu"]),
    ("resume:rng-device-cuda", ["train", "{scene}", "--out", "{root}/run", "--resume", "--device", "cpu"]),
]
EVAL_NEEDS_PREDICTIONS = {"run.json:garbage"}
TIMEOUT_S = 60


def _panolift(args: list[str]) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "panolift.cli", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT_S, env=env)


@pytest.fixture(scope="module")
def results(fuzz_run_base, tiny_scene, tmp_path_factory):
    jobs = {}
    for name, args in SAMPLE:
        root = tmp_path_factory.mktemp("cli_run") / "case"
        shutil.copytree(fuzz_run_base, root, symlinks=True)
        CASES[name].mutate(root)
        if name in EVAL_NEEDS_PREDICTIONS:
            _predictions(root)
        jobs[name] = (root, [a.format(root=root, scene=tiny_scene) for a in args])
    with ThreadPoolExecutor(max_workers=2) as pool:  # two processes at a time: most of each is start-up
        futures = {name: pool.submit(_panolift, args) for name, (_, args) in jobs.items()}
        return {name: (jobs[name][0], future.result()) for name, future in futures.items()}


@pytest.mark.parametrize("name", [name for name, _ in SAMPLE])
def test_cli_reports_bad_run_on_one_line(name, results) -> None:
    root, proc = results[name]
    lines = proc.stderr.strip().splitlines()
    assert "Traceback" not in proc.stderr + proc.stdout, proc.stderr
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    assert str(root) in lines[0], lines[0]
    for piece in CASES[name].expect.split("|"):
        assert piece in lines[0], lines[0]
    assert not (root / "out").exists(), "a failed edit left a folder"
