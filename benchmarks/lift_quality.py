"""Lifting quality on the synthetic `room` scene: PSNR, mIoU and PQ^scene of the lifted result on the test
views, beside the machine labels' own scores, with training time and seconds per iteration.

    .venv/bin/python benchmarks/lift_quality.py [--preset fast] [--threads 2] [--scene PATH] [--work DIR]

Not part of the test suite (minutes of CPU). Targets for the default `fast` preset on a 2-core CPU:
PSNR >= 25 dB, mIoU >= machine labels + 10 points, PQ^scene >= 0.70, training within 15 minutes.
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from common import add_device_argument, pick_device, score_run


def train(args) -> tuple[Path, Path, int, float]:
    """Synthesize the scene if needed and train; returns (run, scene, iterations, training seconds)."""
    from panolift.config import get_preset
    from panolift.runs import TrainingRun

    work = args.work or Path(tempfile.mkdtemp(prefix="lift_quality_"))
    scene_path = args.scene
    if scene_path is None:
        from panolift.synth import SYNTH_PRESETS, synthesize_scene

        scene_path = work / f"scene_{args.synth_preset}_{args.synth_seed}"
        if not (scene_path / "color").is_dir():
            synthesize_scene(scene_path, replace(SYNTH_PRESETS[args.synth_preset], seed=args.synth_seed))
    config = get_preset(args.preset, args.iterations if args.iterations > 0 else None)
    run_dir = work / f"run_{args.preset}_{int(time.time())}"
    every = max(1, config.train.iterations // 10)

    def progress(step: int, total: int, metrics: dict) -> None:
        if step % every == 0:
            print(
                f"  step {step}/{total}  loss {metrics['total']:.3f}  psnr {metrics.get('psnr', math.nan):.2f}",
                flush=True,
            )

    start = time.perf_counter()
    with TrainingRun(scene_path, run_dir, config, device=pick_device(args.device)) as training:
        training.run(progress)
    return run_dir, scene_path, config.train.iterations, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="fast", choices=["fast", "paper", "tiny"])
    parser.add_argument(
        "--scene", type=Path, default=None, help="an existing scene (default: synthesize `room`)"
    )
    parser.add_argument("--synth-preset", default="room", help="synthetic preset when --scene is not given")
    parser.add_argument("--synth-seed", type=int, default=0, help="seed of the synthetic scene")
    parser.add_argument(
        "--work", type=Path, default=None, help="folder for the scene and run (default: temp)"
    )
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    parser.add_argument("--run", type=Path, default=None, help="score this existing run instead of training")
    parser.add_argument("--iterations", type=int, default=0, help="override the preset's iterations")
    parser.add_argument(
        "--protocol", default="standard", help="evaluation protocol (standard|panoptic-lifting)"
    )
    add_device_argument(parser)
    args = parser.parse_args()

    import torch

    from panolift.evaluate import score_machine_labels
    from panolift.runs import latest_checkpoint, load_run, read_checkpoint
    from panolift.scene import Scene

    if args.threads > 0:
        torch.set_num_threads(args.threads)
    if args.run is not None:  # score an existing run (e.g. under another protocol)
        meta, _ = read_checkpoint(latest_checkpoint(args.run))
        run_dir, scene_path = args.run, load_run(args.run).scene_path
        iters, train_seconds = meta["step"], meta["history"][-1]["time"]
    else:
        run_dir, scene_path, iters, train_seconds = train(args)
    scene = Scene(scene_path)
    frames = scene.test_frames
    start = time.perf_counter()
    lifted = score_run(run_dir, scene, pick_device(args.device), protocol=args.protocol)
    render_seconds = time.perf_counter() - start
    machine = score_machine_labels(scene, protocol=args.protocol)

    print(
        f"scene {scene_path} ({len(scene.train_frames)} train / {len(frames)} test frames, "
        f"{scene.width}x{scene.height}); preset {args.preset}, {iters} iterations, "
        f"{torch.get_num_threads()} thread(s), protocol {args.protocol}"
    )
    print(f"{'':18s} {'PSNR':>7s} {'mIoU':>7s} {'PQscene':>8s} {'PQ':>7s}")
    print(
        f"{'machine labels':18s} {'-':>7s} {100 * machine['miou']:7.2f} {100 * machine['pq_scene']:8.2f} "
        f"{100 * machine['pq_image']:7.2f}"
    )
    print(
        f"{'lifted (' + args.preset + ')':18s} {lifted['psnr']:7.2f} {100 * lifted['miou']:7.2f} "
        f"{100 * lifted['pq_scene']:8.2f} {100 * lifted['pq_image']:7.2f}"
    )
    print(
        f"training {train_seconds:.0f} s ({train_seconds / iters:.3f} s/iteration), "
        f"rendering and scoring {len(frames)} test views {render_seconds:.1f} s"
    )
    print(f"run folder: {run_dir}")


if __name__ == "__main__":
    main()
