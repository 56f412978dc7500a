"""Where the time goes: one training step and one rendered test frame of a trained run, broken down by part.

    .venv/bin/python benchmarks/profile_step.py RUN [--steps 30] [--frames 3] [--threads 1] [--ops 12]
        [--json FILE]

RUN is a trained run folder (e.g. `make demo`'s demo_out/run). A copy of it is resumed at its next-to-last
checkpoint (every loss on, the geometry formed), warmed up for 5 steps, and --steps training steps are
timed; then --frames test views are rendered as `panolift render` renders them (the field, then the
panoptic labels with the run's instance table, built once beforehand and timed on its own).

The parts are timed by wrapping the functions that do them (the package is not changed): batch sampling,
the density march (ray steps, occupancy skipping, the density grid), sample selection, colour (appearance
grid and MLP), the semantic and instance heads (their grids and MLPs), the linear assignment, the losses,
the grid regularisers (total variation, L1), backward, the optimizers, grid events (occupancy updates,
upsampling), the instance table's lookups; each part's time excludes the parts called inside it, and
"other" is the rest of the step (Python glue, weight accumulation, indexing). Backward is one part: torch
runs it as one call, so its split by operator comes from the torch profiler's table that follows (the
--ops operators with the most self time over the timed steps, forward and backward). CPU only; one
process, nothing else should run meanwhile.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections import defaultdict
from contextlib import contextmanager
from pathlib import Path

from common import copy_before_last_checkpoint


class PartTimer:
    """Exclusive wall time per part: time spent inside a nested part counts for that part only."""

    def __init__(self):
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)
        self._stack: list[list] = []  # [name, start, seconds of nested parts]

    @contextmanager
    def part(self, name: str):
        self._stack.append([name, time.perf_counter(), 0.0])
        try:
            yield
        finally:
            _, start, nested = self._stack.pop()
            elapsed = time.perf_counter() - start
            self.seconds[name] += elapsed - nested
            self.calls[name] += 1
            if self._stack:
                self._stack[-1][2] += elapsed

    def wrap(self, owner, attribute: str, name: str) -> None:
        """Replace ``owner.attribute`` (a module function or an object's method) by a timed call of it."""
        original = getattr(owner, attribute)

        def timed(*args, **kwargs):
            with self.part(name):
                return original(*args, **kwargs)

        setattr(owner, attribute, timed)

    def reset(self) -> None:
        self.seconds.clear()
        self.calls.clear()


def wrap_training(timer: PartTimer, trainer) -> None:
    import torch

    import panolift.lift.trainer as trainer_module
    import panolift.render.renderer as renderer

    for name in ("sample_scene_batch", "sample_image_batch"):
        timer.wrap(trainer_module, name, "batch sampling")
    for name in ("compute_rgb_loss", "compute_semantic_loss", "compute_instance_loss", "compute_embedding_loss",
                 "compute_consistency_loss", "compute_distortion_loss"):  # fmt: skip
        timer.wrap(trainer_module, name, "losses")
    timer.wrap(trainer_module, "assign_instances", "linear assignment")  # slot runs only
    wrap_field(timer, trainer.field)
    timer.wrap(renderer, "_march_density", "density march (steps, skipping)")
    timer.wrap(renderer, "select_significant", "sample selection")
    timer.wrap(trainer.field, "total_variation", "regularisers (TV, L1)")
    timer.wrap(trainer.field, "density_l1", "regularisers (TV, L1)")
    timer.wrap(trainer, "apply_events", "grid events (occupancy, upsampling)")
    timer.wrap(torch.Tensor, "backward", "backward")  # the step's one backward call
    for optimizer in trainer.optimizers.values():
        timer.wrap(optimizer, "step", "optimizers (Adam)")


def wrap_field(timer: PartTimer, field) -> None:
    timer.wrap(field, "density", "density grid")
    timer.wrap(field, "color", "colour (appearance grid, MLP)")
    timer.wrap(field, "semantics", "semantic head (grid, MLP)")
    timer.wrap(field, "instance", "instance head (grid, MLP)")


def timed_steps(timer: PartTimer, trainer, steps: int) -> float:
    """Run ``steps`` of the trainer's own training steps; their total seconds (the step itself: "other")."""
    total = 0.0
    for _ in range(steps):
        start = time.perf_counter()
        with timer.part("other"):
            trainer.train_step()
        total += time.perf_counter() - start
    return total


def profile_training(run: Path, steps: int, ops: int) -> dict:
    import torch
    from torch.profiler import ProfilerActivity, profile

    from panolift.runs.folder import read_run_info
    from panolift.runs.training import TrainingRun

    with tempfile.TemporaryDirectory() as tmp:
        copy = copy_before_last_checkpoint(run, Path(tmp) / "run")
        with TrainingRun(read_run_info(copy).scene_path, copy, resume=True) as training:
            trainer = training.trainer
            trainer.config.train.iterations = trainer.step + 3 * steps + 100
            step0 = trainer.step
            for _ in range(5):
                trainer.train_step()
            timer = PartTimer()
            wrap_training(timer, trainer)
            total = timed_steps(timer, trainer, steps)
            parts = dict(timer.seconds)
            with profile(activities=[ProfilerActivity.CPU]) as prof:
                timed_steps(PartTimer(), trainer, max(3, steps // 3))
    table = prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=ops)
    return {"step": step0, "steps": steps, "seconds": total, "parts": parts, "ops": table,
            "threads": torch.get_num_threads()}  # fmt: skip


def profile_rendering(run: Path, frames: int) -> dict:
    import panolift.render.renderer as renderer
    from panolift.edit.regions import InstanceTable
    from panolift.render import panoptic_from_rendering, render_image
    from panolift.runs import instance_table_of_run, load_trained_run
    from panolift.scene import fit_size, scale_intrinsics

    loaded = load_trained_run(run, "cpu")
    scene = loaded.open_scene()
    start = time.perf_counter()
    table = instance_table_of_run(loaded, device="cpu")
    table_seconds = time.perf_counter() - start
    width, height = fit_size(scene.native_size, width=0)
    K = scale_intrinsics(scene.intrinsics, scene.size, (width, height))
    names = scene.test_frames[: max(1, frames)]
    timer = PartTimer()

    def render(name):
        out = render_image(
            loaded.field, K, scene.pose(name), width, height, normalization=loaded.normalization
        )
        panoptic_from_rendering(out, scene.class_set, instances=table)

    render(names[0])  # warm-up
    wrap_field(timer, loaded.field)
    timer.wrap(renderer, "_march_density", "density march (steps, skipping)")
    timer.wrap(renderer, "select_significant", "sample selection")
    timer.wrap(InstanceTable, "ids_at", "instance table lookups")
    total = 0.0
    for name in names:
        start = time.perf_counter()
        with timer.part("other"):
            render(name)
        total += time.perf_counter() - start
    return {"frames": len(names), "size": f"{width}x{height}", "seconds": total, "parts": dict(timer.seconds),
            "table_seconds": table_seconds}  # fmt: skip


def breakdown(parts: dict[str, float], total: float, count: int, unit: str) -> list[str]:
    lines = [f"| part | ms per {unit} | share |", "|---|---|---|"]
    for name, seconds in sorted(parts.items(), key=lambda kv: -kv[1]):
        lines.append(f"| {name} | {1000 * seconds / count:.1f} | {100 * seconds / total:.0f}% |")
    lines.append(f"| **total** | **{1000 * total / count:.1f}** | 100% |")
    return lines


def main() -> None:
    import torch

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", type=Path, help="a trained run folder")
    parser.add_argument("--steps", type=int, default=30, help="training steps timed")
    parser.add_argument("--frames", type=int, default=3, help="test frames rendered")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--ops", type=int, default=12, help="rows of the operator table")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures to this file")
    args = parser.parse_args()
    if not (args.run / "run.json").is_file():
        raise SystemExit(f"profile_step: {args.run} is not a run folder (no run.json)")
    if args.steps < 1 or args.frames < 1:
        raise SystemExit("profile_step: --steps and --frames must be >= 1")
    torch.set_num_threads(args.threads)
    train = profile_training(args.run, args.steps, args.ops)
    render = profile_rendering(args.run, args.frames)
    print(f"## One training step (resumed at step {train['step']}, {train['steps']} steps, "
          f"{train['threads']} thread(s))\n")  # fmt: skip
    print("\n".join(breakdown(train["parts"], train["seconds"], train["steps"], "step")))
    print(f"\n## Operators, forward and backward (torch profiler, self CPU time)\n\n{train['ops']}")
    print(f"## One rendered test frame ({render['size']}, {render['frames']} frames; the instance table "
          f"took {render['table_seconds']:.1f} s once)\n")  # fmt: skip
    print("\n".join(breakdown(render["parts"], render["seconds"], render["frames"], "frame")))
    if args.json is not None:
        args.json.write_text(
            json.dumps({"train": {k: v for k, v in train.items() if k != "ops"}, "render": render})
        )


if __name__ == "__main__":
    main()
