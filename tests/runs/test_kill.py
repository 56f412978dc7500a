"""`panolift train` killed with SIGKILL at several moments, then `--resume`d, in real processes.

One short training (the tiny preset, 40 iterations, a checkpoint every 4, the grid upsampled at step 25)
is killed three times and resumed after each kill:

1. while its first checkpoint is being written (the process is frozen with SIGSTOP the moment the
   temporary file appears, and killed while frozen, so the kill lands inside the write for certain);
   meanwhile two more `train --out SAME` (with and without --resume) must be refused, exit 2, one line;
2. while a later checkpoint is being written (after the upsampling, so the resumed run replays it);
3. between two checkpoint writes.

Each resumed process starts from the last complete checkpoint (never losing more than one checkpoint
interval), with the run's own configuration even when the command line says otherwise, and leaves no
temporary file; the run finishes with the loss history of an uninterrupted run of the same seed.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from panolift.runs import latest_checkpoint, read_checkpoint

EVERY, ITERATIONS = 4, 40
OPTIONS = [
    "--preset", "tiny", "--device", "cpu", "--threads", "1",
    "--train.iterations", str(ITERATIONS), "--train.checkpoint-every", str(EVERY), "--train.log-every", "2",
    "--train.occupancy-steps", "10", "30", "--train.shrink-step", "15", "--train.upsample-steps", "25",
    "--loss.instance-start", "0.2", "--loss.consistency-start", "0.4",
]  # fmt: skip
TIMEOUT_S = 120
TEMPORARY = (".step_", ".latest.", ".tmp")


STARTED: list[subprocess.Popen] = []


@pytest.fixture(autouse=True)
def no_leftover_processes():
    """Whatever happens in the test, no training process outlives it."""
    yield
    while STARTED:
        proc = STARTED.pop()
        if proc.poll() is None:
            proc.kill()
        proc.communicate()


def start(scene: Path, out: Path, *extra: str) -> subprocess.Popen:
    command = [sys.executable, "-m", "panolift.cli", "train", str(scene), "--out", str(out), *extra]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    STARTED.append(proc)
    return proc


def finish(proc: subprocess.Popen) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=TIMEOUT_S)
    return proc.returncode, out, err


def listing(run: Path) -> list[str]:
    try:
        return sorted(entry.name for entry in os.scandir(run / "checkpoints"))
    except FileNotFoundError:
        return []


def temporaries(run: Path) -> list[str]:
    return [name for name in listing(run) if name.startswith(TEMPORARY)]


def latest_step(run: Path) -> int:
    path = latest_checkpoint(run)
    return -1 if path is None else int(path.name[len("step_") : -len(".safetensors")])


def wait_until(proc: subprocess.Popen, condition, what: str) -> None:
    """Poll (as fast as the file system answers) until ``condition()``; fail if the process ends first."""
    deadline = time.monotonic() + TIMEOUT_S
    while not condition():
        if proc.poll() is not None:
            pytest.fail(f"training ended before {what}: {proc.stderr.read()[-2000:]}")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"no {what} within {TIMEOUT_S} s")


def wait_stopped(pid: int) -> None:
    for _ in range(2000):
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        if state in ("T", "t"):
            return
        time.sleep(0.0005)
    pytest.fail(f"process {pid} did not stop")


def freeze_inside_checkpoint_write(proc: subprocess.Popen, run: Path, min_step: int) -> str:
    """SIGSTOP the trainer while it writes the checkpoint of a step >= ``min_step``: stop it the moment a
    temporary checkpoint file appears; if the write has finished by the time it is stopped, let it go on
    and try the next write. Returns the temporary file that is there while it is frozen."""

    def writing() -> list[str]:
        return [n for n in listing(run) if n.startswith(".step_") and int(n[6:12]) >= min_step]

    while True:
        wait_until(proc, lambda: bool(writing()), f"a checkpoint write of step >= {min_step}")
        os.kill(proc.pid, signal.SIGSTOP)
        wait_stopped(proc.pid)
        frozen = writing()
        if frozen:
            return frozen[0]
        os.kill(proc.pid, signal.SIGCONT)


def kill(proc: subprocess.Popen) -> None:
    proc.kill()  # SIGKILL, also to a stopped process
    proc.wait(timeout=TIMEOUT_S)
    assert proc.returncode == -signal.SIGKILL


def resumed_step(stderr: str) -> int:
    """The step a resumed process started at (its log), 0 when it started over."""
    match = re.search(r"resuming \S+ at step (\d+)", stderr)
    if match:
        return int(match.group(1))
    assert "from the start (no checkpoint yet), with run.json's configuration" in stderr, stderr[-2000:]
    return 0


def history(run: Path) -> list[dict]:
    meta, _ = read_checkpoint(latest_checkpoint(run))
    return [{k: v for k, v in h.items() if k != "time"} for h in meta["history"]]


def test_kill_9_at_any_moment_then_resume_matches_an_uninterrupted_run(tiny_scene, tmp_path):
    reference = start(tiny_scene, tmp_path / "reference", *OPTIONS)  # alongside, on the other core
    run = tmp_path / "run"

    # 1. Killed inside its first checkpoint write; two more writers refused meanwhile.
    for _ in range(5):  # a write of the tiny run is short: the poll may first catch a later one
        first = start(tiny_scene, run, *OPTIONS)
        frozen = freeze_inside_checkpoint_write(first, run, min_step=EVERY)
        if frozen.startswith(f".step_{EVERY:06d}."):
            break
        kill(first)
        shutil.rmtree(run)
    else:
        pytest.fail("five trainings were never caught inside their first checkpoint write")
    assert "latest.json" not in listing(run)
    others = [start(tiny_scene, run, *OPTIONS, "--resume"), start(tiny_scene, run, *OPTIONS)]
    refusals = ("another `panolift train` is writing", "a run is already there")
    for proc, expected in zip(others, refusals, strict=True):
        code, _, err = finish(proc)
        assert code == 2 and "Traceback" not in err, err
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and expected in lines[0], err
    kill(first)
    assert frozen in listing(run) and latest_step(run) == -1
    started_over = complete = 0

    # 2. Resumed with another preset's options on the command line (ignored: the run's own config is in
    # run.json), then killed inside the write of a checkpoint after the grid was upsampled at step 25.
    second = start(
        tiny_scene, run, "--resume", "--train.iterations", "8", "--device", "cpu", "--threads", "1"
    )
    frozen = freeze_inside_checkpoint_write(second, run, min_step=28)
    complete = latest_step(run)
    assert complete == int(frozen[6:12]) - EVERY  # latest.json still names the previous checkpoint
    kill(second)
    _, _, err = finish(second)
    assert resumed_step(err) == started_over, err[-2000:]
    ignored = [line for line in err.splitlines() if "with its own configuration; ignored:" in line]
    assert ignored and "train.iterations" in ignored[0], err[-2000:]  # it went past step 8: run.json's 40
    assert latest_step(run) == complete and any(n.startswith(".step_") for n in temporaries(run))

    # 3. Resumed, then killed between two checkpoint writes (right after one completed).
    third = start(tiny_scene, run, "--resume", "--device", "cpu", "--threads", "1")
    wait_until(third, lambda: latest_step(run) > complete, "a new complete checkpoint")
    kill(third)
    _, _, err = finish(third)
    assert resumed_step(err) == complete, err[-2000:]
    previous, complete = complete, latest_step(run)
    assert complete > previous

    # 4. Resumed to the end.
    code, _, err = finish(start(tiny_scene, run, "--resume", "--device", "cpu", "--threads", "1"))
    assert code == 0, err[-2000:]
    assert resumed_step(err) == complete
    assert temporaries(run) == [], listing(run)
    assert latest_step(run) == ITERATIONS

    code, _, err = finish(reference)
    assert code == 0, err[-2000:]
    got, want = history(run), history(tmp_path / "reference")
    assert [h["step"] for h in got] == [h["step"] for h in want]
    for a, b in zip(got, want, strict=True):
        for key in b:
            assert a[key] == pytest.approx(b[key], rel=1e-4, abs=1e-6), (b["step"], key)
