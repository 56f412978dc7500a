"""`panolift batch` on a local Ray: three tiny scenes, a task killed mid-way (Ray retries it and it resumes
from its checkpoint), the batch interrupted and run again (complete scenes skipped, the others resumed)."""

from __future__ import annotations

import csv
import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from panolift.batch import RESULT_FILE, TASK_FILE, format_markdown, plan_jobs, read_result
from panolift.errors import PanoliftError

ITERATIONS = 30
TRAIN = ["--preset", "tiny", "--train.iterations", str(ITERATIONS), "--train.checkpoint-every", "10"]


@pytest.fixture(scope="module")
def three_scenes(tiny_scene, tmp_path_factory) -> list[Path]:
    """The tiny preset with seeds 0 (the session's tiny scene), 1 and 2."""
    from panolift.synth import SYNTH_PRESETS, synthesize_scene

    root = tmp_path_factory.mktemp("batch_scenes")
    scenes = [tiny_scene]
    for seed in (1, 2):
        synthesize_scene(root / f"tiny{seed}", dataclasses.replace(SYNTH_PRESETS["tiny"], seed=seed))
        scenes.append(root / f"tiny{seed}")
    return scenes


def batch_command(scenes: list[Path], out: Path) -> list[str]:
    panolift = Path(sys.executable).parent / "panolift"
    return [str(panolift), "batch", *map(str, scenes), "--out", str(out), "--local-cpus", "2", *TRAIN]


def checkpoint_step(run_dir: Path) -> int:
    latest = run_dir / "checkpoints" / "latest.json"
    try:
        return int(json.loads(latest.read_text())["step"])
    except (OSError, ValueError, KeyError):
        return 0


def wait_for(condition, process: subprocess.Popen, timeout: float = 120.0):
    """Poll ``condition()`` until it returns something truthy (the batch must still be running)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        found = condition()
        if found:
            return found
        if process.poll() is not None:
            pytest.fail(f"the batch ended early:\n{process.stdout.read()}")
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)  # stops its local Ray too
    output = process.communicate(timeout=60)[0]
    pytest.fail(f"timed out waiting for the batch:\n{output}")


def test_batch_on_local_ray_survives_a_killed_task_and_an_interrupted_batch(three_scenes, tmp_path):
    pytest.importorskip("ray", reason="panolift batch needs the cluster extra (make install installs it)")
    out = tmp_path / "runs"
    jobs = plan_jobs(three_scenes, out)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "RAY_USAGE_STATS_ENABLED": "0"}
    first = subprocess.Popen(
        batch_command(three_scenes, out), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        # a background shell job inherits SIGINT ignored; the batch must see this test's Ctrl-C
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )  # fmt: skip

    def mid_training():  # a scene past its first checkpoint, not finished, and the process training it
        for job in jobs:
            step = checkpoint_step(job.run_dir)
            if 10 <= step < ITERATIONS - 10 and (job.run_dir / TASK_FILE).exists():
                return job, json.loads((job.run_dir / TASK_FILE).read_text())["pid"]
        return None

    killed, pid = wait_for(mid_training, first)
    os.kill(pid, signal.SIGKILL)  # the worker dies: Ray retries the task, which resumes
    wait_for(lambda: any((j.run_dir / RESULT_FILE).exists() for j in jobs), first)
    first.send_signal(signal.SIGINT)  # Ctrl-C: the batch stops, its local Ray with it
    first.communicate(timeout=60)

    second = subprocess.run(
        batch_command(three_scenes, out), env=env, capture_output=True, text=True, timeout=180
    )
    assert second.returncode == 0, second.stdout + second.stderr
    results = [read_result(job.run_dir) for job in jobs]
    assert all(r is not None and r["status"] == "done" and r["step"] == ITERATIONS for r in results)
    retried = read_result(killed.run_dir)
    assert retried["attempt"] >= 2 and retried["resumed_from"] >= 10  # from its checkpoint, not from 0
    assert "skipped" in second.stdout  # what the first batch finished is not lifted again
    assert "| mean | 3/3 lifted |" in second.stdout
    rows = list(csv.DictReader((out / "batch.csv").open()))
    assert [r["scene"] for r in rows] == [j.name for j in jobs] + ["mean"]
    assert all(float(r["mIoU"]) >= 0 and float(r["PSNR"]) > 0 for r in rows)
    assert (killed.run_dir / "render" / "test" / "metrics.json").exists()


def test_batch_table_and_jobs_without_ray(tmp_path, tiny_scene):
    results = [
        {"name": "a", "status": "done", "train_frames": 9, "step": 40, "attempt": 2,
         "times": {"train": 3.0, "render": 1.0, "eval": 0.5}, "metrics": {"miou": 50.0, "psnr": 20.0}},
        {"name": "b", "status": "failed", "error": "b: no 2D labels", "times": {}, "metrics": {}},
    ]  # fmt: skip
    table = format_markdown(results)
    assert "| a | done | 9 | 40 | 2 | 3.0 |" in table and "| b | failed |" in table
    assert "| mean | 1/2 lifted |" in table and "- b: b: no 2D labels" in table
    with pytest.raises(PanoliftError, match="more than once"):
        plan_jobs([tiny_scene, tiny_scene], tmp_path)
    with pytest.raises(PanoliftError, match="does not exist"):
        plan_jobs([tmp_path / "nope"], tmp_path)


def test_batch_says_how_to_install_ray(monkeypatch, tiny_scene, tmp_path, capsys):
    from panolift.cli import main

    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now fails as when it is not installed
    with pytest.raises(SystemExit) as exit_info:
        main(["batch", str(tiny_scene), "--out", str(tmp_path / "runs")])
    assert exit_info.value.code == 2
    assert "pip install 'panolift[cluster]'" in capsys.readouterr().err
