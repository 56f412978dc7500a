"""The paper's ablation (Table 2) on a synthetic room: each robustness component switched off in turn.

    .venv/bin/python benchmarks/ablation.py [--scene PATH] [--work DIR] [--threads 2] [--full-run RUN]

Trains the default `fast` preset once per variant (segment consistency, TTA confidences, bounded field,
gradient blocking: each off alone, plus everything on), renders the test views and prints mIoU, PQ^scene
and PSNR per variant beside the 2D labels. Not part of the tests: about 5 minutes of CPU per variant.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from common import add_device_argument, pick_device, score_run

VARIANTS = {
    "full": {},
    "- segment consistency": {"segment_consistency": False},
    "- TTA": {"use_tta": False},
    "- bounded field": {"bounded": False},
    "- gradient blocking": {"gradient_blocking": False},
}


def train_variant(scene_path: Path, run_dir: Path, switches: dict, device) -> float:
    from panolift.config import get_preset
    from panolift.runs import train_run

    config = get_preset("fast")
    for key, value in switches.items():
        setattr(config.loss, key, value)
    start = time.perf_counter()
    train_run(scene_path, run_dir, config, device=device)
    return time.perf_counter() - start


def check_full_run(run: Path) -> None:
    """``--full-run`` must be a `fast` run: the other variants train `fast` (`make demo`'s run is `quick`)."""
    from panolift.runs.folder import read_run_info

    preset = read_run_info(run).config.preset
    if preset != "fast":
        raise SystemExit(
            f"ablation: --full-run {run} was trained with the {preset!r} preset; the variants train `fast`: "
            "give a `fast` run (`panolift demo OUT --train-preset fast` makes one) or leave --full-run out"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scene", type=Path, default=None, help="scene folder (default: synthesize `room`)")
    parser.add_argument("--work", type=Path, default=None, help="folder for runs (default: temp)")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    parser.add_argument("--full-run", type=Path, default=None, help="reuse a finished `fast` run as 'full'")
    add_device_argument(parser)
    args = parser.parse_args()
    device = pick_device(args.device)
    if args.full_run is not None:
        check_full_run(args.full_run)

    import torch

    from panolift.evaluate import score_machine_labels
    from panolift.scene import Scene

    if args.threads > 0:
        torch.set_num_threads(args.threads)
    work = args.work or Path(tempfile.mkdtemp(prefix="ablation_"))
    scene_path = args.scene
    if scene_path is None:
        from panolift.synth import SYNTH_PRESETS, synthesize_scene

        scene_path = work / "scene_room"
        if not (scene_path / "color").is_dir():
            synthesize_scene(scene_path, SYNTH_PRESETS["room"])
    scene = Scene(scene_path)
    rows = []
    for name, switches in VARIANTS.items():
        run_dir = work / ("run_" + name.strip("- ").replace(" ", "_"))
        seconds = float("nan")
        if name == "full" and args.full_run is not None:
            run_dir = args.full_run
        elif not (run_dir / "checkpoints").is_dir():
            seconds = train_variant(scene_path, run_dir, switches, device)
        result = score_run(run_dir, scene, device)
        rows.append((name, result, seconds))
        print(
            f"{name}: mIoU {100 * result['miou']:.2f} PQ^scene {100 * result['pq_scene']:.2f} "
            f"PSNR {result['psnr']:.2f} ({seconds:.0f} s)",
            flush=True,
        )
    machine = score_machine_labels(scene)
    print(f"\nscene {scene_path}, fast preset, {torch.get_num_threads()} thread(s), standard protocol")
    print(f"{'variant':24s} {'mIoU':>7s} {'PQscene':>8s} {'PSNR':>7s} {'train s':>8s}")
    print(
        f"{'2D labels':24s} {100 * machine['miou']:7.2f} {100 * machine['pq_scene']:8.2f} {'-':>7s} {'-':>8s}"
    )
    for name, r, seconds in rows:
        took = "reused" if seconds != seconds else f"{seconds:.0f}"  # NaN: a reused run
        print(f"{name:24s} {100 * r['miou']:7.2f} {100 * r['pq_scene']:8.2f} {r['psnr']:7.2f} {took:>8s}")


if __name__ == "__main__":
    main()
