"""One scene of a batch: train it into its run folder (resuming), render its test views, score them.

    RUNS/<name>/            the scene's run folder (:mod:`panolift.runs`), named after the scene folder
    RUNS/<name>/task.json   the process working on it now or last (host, pid, attempt, start time)
    RUNS/<name>/batch.json  its result once complete: status, steps, times, metrics (see :func:`lift_scene`)

A scene is complete when batch.json says so and the run's latest checkpoint is at the run's own last
iteration; a batch run again skips it. Anything else resumes: :class:`panolift.runs.TrainingRun` with
``resume=True`` continues from the latest checkpoint (or starts over from run.json), so a killed task loses
at most ``checkpoint_every`` iterations.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from panolift.config import LiftConfig
from panolift.errors import PanoliftError
from panolift.evaluate import score_labels, score_machine_labels
from panolift.evaluate.prediction import read_prediction
from panolift.evaluate.report import markdown_report, write_metrics_json
from panolift.runs import TrainingRun, latest_checkpoint, read_checkpoint, read_run_info, render_run
from panolift.scene import Scene, SceneError
from panolift.scene.io import read_json, write_json

log = logging.getLogger(__name__)

RESULT_FILE = "batch.json"
TASK_FILE = "task.json"


@dataclass(frozen=True)
class SceneJob:
    """A scene folder and the run folder it is lifted into."""

    name: str
    scene: Path
    run_dir: Path


def plan_jobs(scenes: list[Path], out: Path) -> list[SceneJob]:
    """One job per scene, its run folder OUT/<scene folder name> (OUT/<parent>-<name> when two scenes share
    a name). A scene listed twice, or names that stay ambiguous, are errors."""
    paths = [Path(s).resolve() for s in scenes]
    if len(set(paths)) != len(paths):
        twice = sorted({str(p) for p in paths if paths.count(p) > 1})
        raise PanoliftError(f"{twice[0]}: scene listed more than once")
    names = [p.name for p in paths]
    names = [f"{p.parent.name}-{p.name}" if names.count(p.name) > 1 else p.name for p in paths]
    if len(set(names)) != len(names):
        raise PanoliftError(f"scenes with the same folder and parent names: {sorted(names)}; rename one")
    for path in paths:
        if not path.is_dir():
            raise SceneError(f"{path}: scene folder does not exist")
    return [SceneJob(n, p, Path(out).resolve() / n) for n, p in zip(names, paths, strict=True)]


def read_result(run_dir: Path) -> dict | None:
    """RUNS/<name>/batch.json, or None when absent or unreadable (the scene is then lifted again)."""
    path = Path(run_dir) / RESULT_FILE
    if not path.is_file():
        return None
    try:
        result = read_json(path, "batch result")
    except PanoliftError:
        return None
    return result if isinstance(result, dict) else None


def completed_result(job: SceneJob) -> dict | None:
    """The stored result of a complete scene (see the module), else None."""
    result = read_result(job.run_dir)
    if result is None or result.get("status") != "done":
        return None
    checkpoint = latest_checkpoint(job.run_dir)
    if checkpoint is None:
        return None
    try:
        meta, _ = read_checkpoint(checkpoint)
        iterations = read_run_info(job.run_dir).config.train.iterations
    except PanoliftError:
        return None
    return result if int(meta["step"]) >= iterations else None


def score_run(job: SceneJob, render_dir: Path) -> dict:
    """``panolift eval``'s metrics of the rendered test views (and of the 2D labels), written to
    render/test/metrics.json and report.md; empty when the scene has no ground truth."""
    scene = Scene(job.scene)
    if not scene.has_ground_truth:
        return {}
    semantics, instance, rgb = read_prediction(render_dir, scene, scene.test_frames)
    results = {
        "protocol": "standard",
        "scene": str(scene.root),
        "prediction": score_labels(scene, semantics, instance, rgb),
        "machine_labels": score_machine_labels(scene) if scene.has_machine_labels else None,
    }
    write_metrics_json(render_dir / "metrics.json", results)
    (render_dir / "report.md").write_text(markdown_report(results, f"panolift batch: {job.name}"))
    return results


def summary_metrics(results: dict) -> dict[str, float]:
    """The numbers of a batch table from :func:`score_run`'s results (percent; PSNR in dB)."""
    if not results:
        return {}
    pred, labels = results["prediction"], results.get("machine_labels") or {}
    out = {
        "psnr": pred.get("psnr"),
        "miou": 100 * pred["miou"],
        "pq_scene": 100 * pred["pq_scene"],
        "labels_miou": 100 * labels["miou"] if labels else None,
        "labels_pq_scene": 100 * labels["pq_scene"] if labels else None,
    }
    return {k: (round(float(v), 3) if v is not None else None) for k, v in out.items()}


def record_task(job: SceneJob) -> int:
    """Write task.json (this process, its attempt number); returns the attempt (1 for the first)."""
    try:
        previous = (
            read_json(job.run_dir / TASK_FILE, "task file") if (job.run_dir / TASK_FILE).is_file() else {}
        )
        attempt = int(previous.get("attempt", 0)) + 1
    except (PanoliftError, AttributeError, TypeError, ValueError):  # unreadable: count from here
        attempt = 1
    job.run_dir.mkdir(parents=True, exist_ok=True)
    write_json(
        job.run_dir / TASK_FILE,
        {"host": socket.gethostname(), "pid": os.getpid(), "attempt": attempt, "started": time.time()},
    )
    return attempt


def lift_scene(job: SceneJob, config: LiftConfig, device: str = "cpu", threads: int = 1) -> dict:
    """Train (resuming whatever is there), render the test views, score them; write and return the result:
    {"name", "scene", "run", "status": "done", "step", "iterations", "resumed_from", "attempt",
    "train_frames", "test_frames", "times": {"train", "render", "eval"} (seconds; training summed over
    every attempt), "metrics": :func:`summary_metrics`}."""
    if threads > 0:
        torch.set_num_threads(threads)
    attempt = record_task(job)
    started = (job.run_dir / "run.json").exists() or latest_checkpoint(job.run_dir) is not None
    with TrainingRun(job.scene, job.run_dir, config, device=device, resume=started) as training:
        trainer = training.trainer
        resumed_from = trainer.step if started else None
        training.run()
        step, iterations, train_seconds = trainer.step, trainer.config.train.iterations, trainer.elapsed
        train_frames = trainer.data.num_frames
    del training, trainer
    t0 = time.perf_counter()
    render_dir = render_run(job.run_dir, "test", device=device)
    t1 = time.perf_counter()
    metrics = summary_metrics(score_run(job, render_dir))
    t2 = time.perf_counter()
    result = {
        "name": job.name, "scene": str(job.scene), "run": str(job.run_dir), "status": "done",
        "step": step, "iterations": iterations, "resumed_from": resumed_from, "attempt": attempt,
        "train_frames": train_frames, "test_frames": len(Scene(job.scene).test_frames),
        "times": {"train": round(train_seconds, 2), "render": round(t1 - t0, 2), "eval": round(t2 - t1, 2)},
        "metrics": metrics,
    }  # fmt: skip
    write_json(job.run_dir / RESULT_FILE, result)
    return result


def failed_result(job: SceneJob, error: str) -> dict:
    """The table row of a scene that could not be lifted (``error``: one line)."""
    return {"name": job.name, "scene": str(job.scene), "run": str(job.run_dir), "status": "failed",
            "error": error, "times": {}, "metrics": {}}  # fmt: skip


__all__ = [
    "RESULT_FILE",
    "TASK_FILE",
    "SceneJob",
    "completed_result",
    "failed_result",
    "lift_scene",
    "plan_jobs",
    "read_result",
    "score_run",
    "summary_metrics",
]
