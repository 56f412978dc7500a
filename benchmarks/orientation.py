"""Rooms that stand turned in their world: suite rooms turned, trained with and without the trainer's
orientation (`--train.orient-world`), beside the room as the synth made it.

    .venv/bin/python benchmarks/orientation.py [--seeds 0,3,11] [--turn tilted|level|y-up] [--preset fast]
        [--threads 1] [--reuse] [--cache DIR] [--runs DIR]

Each room is copied (images, labels and ground truth hard-linked; only the poses rewritten) into the world
x' = R x + (1, -2, 0.5): `tilted` R turns 37 degrees about a tilted axis (a structure-from-motion world,
as `import nerfstudio` keeps it), `level` 20 degrees about the up axis (upright, walls turned: ScanNet's
raw poses), `y-up` relabels the axes so that y is up (walls still along the axes: nothing to turn).
Per-pixel ground truth (z-depth, classes, instances) does not change with the world, so the copies are
scored like the room. Three trainings a room (`--variants`): the room as made, the turned room trained
as it stands (`--train.no-orient-world`) and the turned room oriented (`--train.orient-world`); each prints
mIoU / PQ^scene / PSNR and how far the turn the trainer found is from the truth. One at a time, the
`panolift` command as subprocesses (benchmarks/suite.py's `lift_scene`): minutes a training on a CPU.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from suite import lift_scene, parse_seeds, synthesize  # noqa: E402

from panolift.capture.world_frame import nearest_axes, rotation_about, turn_degrees  # noqa: E402

SHIFT = np.array([1.0, -2.0, 0.5])
VARIANTS = ("room", "turned", "oriented")


TURNS = {
    "tilted": rotation_about([0.3, 0.8, 0.5], 37.0),
    "level": rotation_about([0.0, 0.0, 1.0], 20.0),
    "y-up": np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]]),
}


def turn_scene(scene: Path, out: Path, rotation: np.ndarray, shift: np.ndarray = SHIFT) -> Path:
    """A copy of scene folder ``scene`` at ``out`` in the world x' = rotation x + shift: every file
    hard-linked (copied where links cannot be made) but the poses, which are written anew."""
    shutil.rmtree(out, ignore_errors=True)
    try:
        shutil.copytree(scene, out, copy_function=_link)
    except OSError:
        shutil.rmtree(out, ignore_errors=True)
        shutil.copytree(scene, out)
    poses = out / "pose"
    shutil.rmtree(poses)
    poses.mkdir()
    for path in sorted((scene / "pose").glob("*.txt")):
        c2w = np.loadtxt(path)
        turned = c2w.copy()
        turned[:3, :3] = rotation @ c2w[:3, :3]
        turned[:3, 3] = rotation @ c2w[:3, 3] + shift
        np.savetxt(poses / path.name, turned)
    return out


def _link(src: str, dst: str) -> None:
    Path(dst).hardlink_to(src)


def found_error(run: Path, rotation: np.ndarray) -> float:
    """Degrees between the field's axes of ``run`` and the room's true axes (up to which axis is which):
    0 when the trainer turned the room exactly back, the turn itself when it did not turn it."""
    normalization = json.loads((run / "run.json").read_text())["normalization"]
    field = np.asarray(normalization.get("rotation", np.eye(3)), dtype=np.float64)
    return turn_degrees(nearest_axes(field @ rotation))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--seeds", default="0,3,11", help="suite seeds (as benchmarks/suite.py's; tiny: the test room)"
    )
    parser.add_argument("--turn", default="tilted", choices=sorted(TURNS), help="how the copies are turned")
    parser.add_argument("--variants", default=",".join(VARIANTS), help="which of room,turned,oriented")
    parser.add_argument("--preset", default="fast", help="training preset (fast, quick, paper, tiny)")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads for training and rendering")
    parser.add_argument("--reuse", action="store_true", help="skip trainings whose metrics.json exists")
    parser.add_argument("--cache", type=Path, default=Path("/tmp/suite-cache"), help="synthesized scenes")
    parser.add_argument("--runs", type=Path, default=Path("/tmp/orientation-runs"), help="training runs")
    args = parser.parse_args()
    variants = [v for v in args.variants.split(",") if v]
    unknown = sorted(set(variants) - set(VARIANTS))
    if unknown:
        raise SystemExit(f"--variants: unknown {', '.join(unknown)} (choose from {', '.join(VARIANTS)})")
    rotation = TURNS[args.turn]
    print(f"# Rooms turned ({args.turn}, {turn_degrees(rotation):.0f} degrees), preset {args.preset}")
    print(
        "| room | variant | 2D labels mIoU / PQ^scene | mIoU / PQ^scene / PSNR | field axes off the room's (deg) |"
    )
    print("|---|---|---|---|---|")
    keys = [k for part in args.seeds.split(",") for k in ([part] if part == "tiny" else parse_seeds(part))]
    for key in keys:
        info = synthesize(key, args.cache, args.threads)
        turned = turn_scene(
            info["scene"], args.runs / "scenes" / f"{info['scene'].name}-{args.turn}", rotation
        )
        for variant in variants:
            extra = "--train.no-orient-world" if variant == "turned" else "--train.orient-world"
            run_args = argparse.Namespace(
                preset=args.preset, threads=args.threads, reuse=args.reuse, extra_train_args=extra
            )
            scene = info["scene"] if variant == "room" else turned
            row = lift_scene(dict(info, scene=scene), run_args, args.runs / variant)
            if row["status"] != "ok":
                print(f"| {key} | {variant} | {row['status']} | | |", flush=True)
                continue
            off = found_error(args.runs / variant / scene.name, np.eye(3) if variant == "room" else rotation)
            print(
                f"| {key} | {variant} | {100 * row['miou_2d']:.1f} / {100 * row['pq_2d']:.1f} | "
                f"{100 * row['miou']:.1f} / {100 * row['pq']:.1f} / {row['psnr']:.2f} | {off:.2f} |",
                flush=True,
            )


if __name__ == "__main__":
    try:
        main()
    except subprocess.CalledProcessError as exc:
        raise SystemExit(f"orientation: {exc}") from None
