"""What the benchmarks share: scoring a rendered run through the evaluation's own prediction reader."""

from __future__ import annotations

import json
import shutil
from pathlib import Path


def score_run(run_dir: Path, scene, device=None, protocol: str = "standard") -> dict:
    """Render the run's test views (unless already rendered) and score them (``panolift eval``'s numbers)."""
    from panolift.evaluate import score_labels
    from panolift.evaluate.prediction import read_prediction
    from panolift.runs import render_run

    out = run_dir / "render" / "test"
    if not (out / "semantics").is_dir():
        out = render_run(run_dir, "test", device=device)
    semantics, instance, rgb = read_prediction(out, scene, scene.test_frames)
    return score_labels(scene, semantics, instance, rgb, protocol=protocol)


def add_device_argument(parser) -> None:
    parser.add_argument("--device", default="auto", help="auto (cuda if available, else cpu), cpu, cuda, ...")


def pick_device(name: str):
    from panolift.commands.common import pick_device as pick

    return pick(name)


def copy_before_last_checkpoint(run: Path, copy: Path) -> Path:
    """Copy run folder ``run`` to ``copy`` with its latest checkpoint set to the next-to-last one (the last is
    the end of training), so that resuming the copy trains on from late in the schedule, every loss on."""
    shutil.copytree(run, copy)
    checkpoints = sorted((copy / "checkpoints").glob("step_*.safetensors"))
    if len(checkpoints) > 1:
        checkpoints[-1].unlink()
        step = int(checkpoints[-2].stem.split("_")[1])
        (copy / "checkpoints" / "latest.json").write_text(
            json.dumps({"step": step, "file": checkpoints[-2].name})
        )
    return copy
