"""Many scenes as Ray tasks: one task per scene, on a local Ray or an existing cluster.

Ray is an optional dependency (``pip install panolift[cluster]``), imported only here and only when a batch
runs. Tasks read the scenes and write the run folders by path: on a cluster, SCENES and RUNS must be on a
filesystem that every node sees, and every node needs panolift installed (the same version).

A task whose worker dies (killed, out of memory, node lost) is retried by Ray up to ``max_retries`` times;
the retry resumes from the scene's latest checkpoint (:func:`panolift.batch.jobs.lift_scene`). A task that
raises (bad input, a bug) is not retried: its scene is reported as failed and the others go on.
"""

from __future__ import annotations

import logging
import os
import traceback
from collections.abc import Callable
from dataclasses import dataclass

from panolift.config import LiftConfig
from panolift.errors import PanoliftError

from .jobs import SceneJob, completed_result, failed_result, lift_scene

log = logging.getLogger(__name__)

INSTALL_HINT = (
    "`panolift batch` runs scenes on Ray, which is not installed here: pip install 'panolift[cluster]' "
    "(or pip install 'ray>=2.9')"
)
ResultFn = Callable[[dict], None]
"""progress(result): called as each scene finishes (skipped, done or failed)."""


@dataclass(frozen=True)
class ClusterConfig:
    """Where and with what resources the scenes run."""

    address: str | None = None
    """Ray address of an existing cluster ("auto", "ray://head:10001", "head:6379"); None starts a local Ray."""
    gpus_per_scene: float = 0.0
    """GPUs each task reserves (fractions share a GPU); > 0 trains on CUDA, 0 on the CPU."""
    cpus_per_scene: float = 1.0
    """CPUs each task reserves; torch uses as many threads (at least one)."""
    local_cpus: int | None = None
    """CPUs of the local Ray (None: all of this machine's); ignored with ``address``."""
    max_retries: int = 3
    """Retries of a task whose worker process died; each resumes from the scene's checkpoint."""


def import_ray():
    """The ray module, or a PanoliftError that says how to install it."""
    try:
        import ray
    except ImportError:
        raise PanoliftError(INSTALL_HINT) from None
    return ray


def lift_scene_task(job: SceneJob, config_dict: dict, device: str, threads: int) -> dict:
    """The body of a Ray task: :func:`lift_scene`, with input errors and bugs returned as a failed result
    (one line) rather than raised, so that a batch reports them beside the other scenes."""
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    try:
        return lift_scene(job, LiftConfig.from_dict(config_dict), device=device, threads=threads)
    except PanoliftError as exc:
        return failed_result(job, " ".join(str(exc).split()))
    except Exception as exc:  # a bug: the scene fails with its traceback in the worker's log
        log.error("%s: %s", job.name, traceback.format_exc())
        return failed_result(job, f"bug: {type(exc).__name__}: {' '.join(str(exc).split())[:300]}")


def start_ray(ray, cluster: ClusterConfig) -> bool:
    """Join ``cluster.address`` or start a local Ray; returns True when this call started it (and so must
    shut it down)."""
    if ray.is_initialized():
        return False
    quiet = {"logging_level": logging.WARNING, "log_to_driver": True}
    if cluster.address:
        try:
            ray.init(address=cluster.address, **quiet)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise PanoliftError(
                f"--ray-address {cluster.address}: cannot join the Ray cluster ({exc})"
            ) from None
        return True
    # Ray nices its workers (15) to keep itself responsive; on a local batch the workers are the work, and
    # niced they starve on a shared machine. RAY_worker_niceness set by the caller wins.
    os.environ.setdefault("RAY_worker_niceness", "0")
    ray.init(num_cpus=cluster.local_cpus, include_dashboard=False, object_store_memory=256 << 20, **quiet)
    return True


def run_batch(
    jobs: list[SceneJob], config: LiftConfig, cluster: ClusterConfig, progress: ResultFn | None = None
) -> list[dict]:
    """Lift every scene of ``jobs`` not complete yet as one Ray task each; complete ones are reported from
    their batch.json. Returns one result per job, in the order of ``jobs``."""
    results: dict[str, dict] = {}
    pending = []
    for job in jobs:
        done = completed_result(job)
        if done is not None:
            results[job.name] = {**done, "status": "skipped"}
            if progress is not None:
                progress(results[job.name])
        else:
            pending.append(job)
    if pending:
        ray = import_ray()
        started = start_ray(ray, cluster)
        try:
            results.update(_run_tasks(ray, pending, config, cluster, progress))
        finally:
            if started:
                ray.shutdown()
    return [results[job.name] for job in jobs]


def _run_tasks(ray, jobs: list[SceneJob], config: LiftConfig, cluster: ClusterConfig, progress) -> dict:
    device = "cuda" if cluster.gpus_per_scene > 0 else "cpu"
    threads = max(1, int(cluster.cpus_per_scene))
    task = ray.remote(lift_scene_task).options(
        num_cpus=cluster.cpus_per_scene,
        num_gpus=cluster.gpus_per_scene,
        max_retries=cluster.max_retries,
        retry_exceptions=False,
        name="panolift-lift-scene",
    )
    refs = {task.remote(job, config.to_dict(), device, threads): job for job in jobs}
    log.info("batch: %d scenes submitted to Ray (%s)", len(refs), ray.cluster_resources())
    results = {}
    while refs:
        ready, _ = ray.wait(list(refs), num_returns=1)
        job = refs.pop(ready[0])
        try:
            result = ray.get(ready[0])
        except Exception as exc:  # the worker died more often than max_retries, or Ray failed
            message = " ".join(str(exc).split())[:300]
            result = failed_result(job, f"task lost: {type(exc).__name__}: {message}")
        results[job.name] = result
        if progress is not None:
            progress(result)
    return results


__all__ = ["INSTALL_HINT", "ClusterConfig", "import_ray", "lift_scene_task", "run_batch", "start_ray"]
