"""`panolift batch SCENES... --out RUNS [--ray-address ADDR] [--gpus-per-scene G] [--cpus-per-scene C]
[--preset P] [--train.iterations N ...]`: lift many scenes as Ray tasks, then print their table."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import tyro

from panolift.config import LiftConfig, get_preset

DEFAULT_PRESET = "fast"


def make_batch_command(preset: str = DEFAULT_PRESET, iterations: int | None = None) -> Callable[..., None]:
    """The `batch` command with ``preset``'s configuration as the defaults of its training options."""
    defaults = get_preset(preset, iterations)

    def batch(
        scenes: tuple[Path, ...],
        /,
        out: Path,
        ray_address: str | None = None,
        gpus_per_scene: float = 0.0,
        cpus_per_scene: float = 1.0,
        local_cpus: int | None = None,
        max_retries: int = 3,
        config: Annotated[LiftConfig, tyro.conf.arg(name="")] = defaults,
    ) -> None:
        """Lift every scene in SCENES into OUT/<scene name> as one Ray task each (train, render the test
        views, score them), then print and write the table (OUT/batch.csv, OUT/batch.md).

        Resumable: a scene whose run is complete is skipped, any other resumes from its latest checkpoint,
        and a task whose worker dies is retried by Ray and resumes likewise. Without --ray-address a local
        Ray starts on this machine; with one (e.g. auto, or ray://HEAD:10001) the tasks run on that
        cluster, which must see SCENES and OUT at the same paths and have panolift installed. Training
        options (--preset, --train.iterations, --field.*, ...) are those of `panolift train`. Needs Ray:
        pip install 'panolift[cluster]'.

        Args:
            scenes: scene folders (with machine labels; with ground truth they are also scored).
            out: folder of the run folders and the batch table.
            ray_address: an existing Ray cluster to join (default: start a local Ray).
            gpus_per_scene: GPUs each scene's task reserves (0.5: two scenes per GPU); > 0 trains on CUDA.
            cpus_per_scene: CPUs each scene's task reserves (torch uses as many threads).
            local_cpus: CPUs the local Ray offers (default: all of this machine's).
            max_retries: how often Ray retries a scene whose worker process died (each retry resumes).
        """
        run_batch_command(
            list(scenes), out, config, ray_address, gpus_per_scene, cpus_per_scene, local_cpus, max_retries
        )

    return batch


def run_batch_command(
    scenes: list[Path],
    out: Path,
    config: LiftConfig,
    ray_address: str | None,
    gpus_per_scene: float,
    cpus_per_scene: float,
    local_cpus: int | None,
    max_retries: int,
) -> None:
    import time

    from tqdm import tqdm

    from panolift.batch import ClusterConfig, format_markdown, import_ray, plan_jobs, run_batch, write_tables
    from panolift.errors import OptionError, PanoliftError

    if gpus_per_scene < 0 or cpus_per_scene <= 0 or (local_cpus is not None and local_cpus < 1):
        raise OptionError("--gpus-per-scene must be >= 0, --cpus-per-scene and --local-cpus > 0")
    if max_retries < 0:
        raise OptionError(f"--max-retries must be >= 0, got {max_retries}")
    if not scenes:
        raise OptionError("give at least one scene folder: panolift batch SCENE [SCENE ...] --out RUNS")
    jobs = plan_jobs(scenes, out)
    import_ray()  # before any work: say how to install it when missing
    cluster = ClusterConfig(ray_address, gpus_per_scene, cpus_per_scene, local_cpus, max_retries)
    where = ray_address or f"a local Ray ({local_cpus or 'all'} CPUs)"
    print(
        f"batch: {len(jobs)} scenes -> {out}, on {where}, {cpus_per_scene:g} CPU / {gpus_per_scene:g} GPU each"
    )
    start = time.perf_counter()
    with tqdm(total=len(jobs), unit="scene", dynamic_ncols=True) as bar:

        def progress(result: dict) -> None:
            metrics = result.get("metrics") or {}
            note = f", mIoU {metrics['miou']:.1f}" if metrics.get("miou") is not None else ""
            if result["status"] == "failed":
                note = f": {result.get('error', '')}"
            bar.write(f"{result['status']:8s} {result['name']}{note}")
            bar.update(1)

        results = run_batch(jobs, config, cluster, progress)
    csv_path, md_path = write_tables(out, results)
    print(format_markdown(results))
    print(f"{time.perf_counter() - start:.0f} s; wrote {csv_path} and {md_path}")
    failed = [r["name"] for r in results if r["status"] == "failed"]
    if failed:
        raise PanoliftError(
            f"{len(failed)} of {len(results)} scenes failed: {', '.join(failed)} (see the table)"
        )
