"""Time and memory of instance lifting against the number of objects in a room (issue 13): 10, 50, 150 and
300 things.

    .venv/bin/python benchmarks/instance_scaling.py [--things 10,50,150,300] [--frames 80] [--size 192 144]
        [--iterations 1500] [--preset fast] [--seed 0] [--threads 1] [--cache DIR] [--out DIR] [--full-light]

Each count is the clutter room of --seed (`panolift synth --preset clutter`: mostly bags and chairs, on the
floor, tables and shelves), its floor scaled by --room-scale (1.3: 14 x 10 m for seed 0, where 300 objects
fit; the unscaled room holds about 160) with --min-gap metres between objects, with that many objects
asked for, --frames frames at --size, rendered without supersampling and shadows (--full-light keeps them); the room, the path and
the label noise stay the same from count to count, only the objects change. The scenes are kept in
--cache and reused. For each it measures, in this process and one after the other (nothing else should
run meanwhile):

- the 2D labels: thing instances per training view (mean, max): the size of each image's linear
  assignment;
- training the --preset (`fast`) for --iterations (its schedule compressed to them: the instance loss from a
  quarter, the consistency loss from half of them): setup seconds (loading the targets), seconds per
  iteration in each phase (colour and semantics only; with the instance loss; with every loss), and the
  peak resident memory of the process during setup and training (VmHWM, reset per count);
- `panolift info`'s work: finding the 3D instances (regions and the instance table), and how many;
- `panolift render` of the test views (field, labels, the instance table's lookups): seconds per frame,
  and the peak resident memory of finding the instances and rendering;
- the test views scored (`panolift eval`): true things, things found as their own instance, thing
  segments predicted, thing PQ^scene. A short schedule: quality figures are for reference only.

Prints one table and writes results.json and results.md to --out. Not part of the tests at full size
(about 20 minutes on the 2-core CPU box); tests/benchmarks/test_instance_scaling.py runs it on tiny scenes.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import json
import shutil
import time
from pathlib import Path

import numpy as np
from gpu_scale import PeakMemory


def synthesize(args, things: int) -> tuple[Path, float | None]:
    """The clutter scene with ``things`` objects asked for (synthesized unless cached); its synth seconds."""
    from panolift.scene import Scene
    from panolift.synth import synthesize_scene

    width, height = args.size
    light = "" if args.full_light else "-light"
    room = f"x{args.room_scale:g}-gap{args.min_gap:g}"
    path = args.cache / f"clutter{args.seed}{room}-{things}obj-{args.frames}f-{width}x{height}{light}"
    if (path / "splits.json").exists():
        Scene(path).validate()  # a synthesis killed half-way is reported here
        return path, None
    if path.exists() and any(path.iterdir()):
        raise SystemExit(f"instance_scaling: {path} holds files but no splits.json (a killed synthesis?)")
    config = scaled_room(args)
    config = dataclasses.replace(
        config, num_things=things, num_frames=args.frames, width=width, height=height
    )
    if not args.full_light:
        config = dataclasses.replace(config, supersample=1, shadows=False)
    print(f"synthesizing {path.name} ...", flush=True)
    result = synthesize_scene(path, config)
    return path, float(result.seconds["total"])


def scaled_room(args):
    """The clutter room of ``args.seed`` with its floor scaled by ``args.room_scale`` along x and y (room
    for 300 objects) and ``args.min_gap`` between objects; the object count is set by the caller."""
    from panolift.synth.suite import clutter_config

    config = clutter_config(args.seed)
    X, Y, Z = config.room_size
    changes = {"room_size": (X * args.room_scale, Y * args.room_scale, Z), "min_gap": args.min_gap}
    if config.room_shape == "open":
        changes["divider"] = tuple(v * args.room_scale for v in config.divider)
    return dataclasses.replace(config, **changes)


def label_counts(scene) -> dict:
    """Thing instances per training view in the 2D labels, and true things in the whole scene."""
    things = np.array(scene.class_set.thing_ids)
    per_view = []
    for name in scene.train_frames:
        semantics, instance = scene.machine_label_maps(name)
        keep = np.isin(semantics, things) & (instance > 0)
        per_view.append(len(np.unique(semantics[keep] * (1 << 20) + instance[keep])))
    true = set()
    for name in scene.frame_names:
        truth = scene.ground_truth(name)
        keep = np.isin(truth.semantics, things) & (truth.instance > 0)
        true.update(zip(truth.semantics[keep].tolist(), truth.instance[keep].tolist(), strict=True))
    return {"views_mean": float(np.mean(per_view)), "views_max": int(max(per_view)), "true": len(true)}


def phase_seconds(marks: list[tuple[int, float]], bounds: list[int]) -> list[float | None]:
    """Seconds per iteration between consecutive ``bounds`` (step numbers) from (step, clock) marks."""
    out = []
    for lo, hi in zip(bounds[:-1], bounds[1:], strict=True):
        inside = [(s, t) for s, t in marks if lo <= s <= hi]
        if len(inside) < 2 or inside[-1][0] == inside[0][0]:
            out.append(None)
            continue
        out.append((inside[-1][1] - inside[0][1]) / (inside[-1][0] - inside[0][0]))
    return out


def measure(args, things: int) -> dict:
    """One row: synthesis, training, regions, rendering and scores for the room with ``things`` objects."""
    import torch

    from panolift.config import get_preset
    from panolift.evaluate.prediction import read_prediction
    from panolift.evaluate.score import score_labels
    from panolift.runs import TrainingRun, load_trained_run, render_run
    from panolift.runs.regions import find_run_regions
    from panolift.scene import Scene

    path, synth_seconds = synthesize(args, things)
    scene = Scene(path)
    row = {
        "asked": things,
        "path": str(path),
        "synth_seconds": synth_seconds,
        "frames": len(scene.frame_names),
    }
    row["labels"] = label_counts(scene)
    config = get_preset(args.preset, args.iterations)  # the preset's schedule over these iterations
    config.train.checkpoint_every = args.iterations
    config.train.log_every = max(1, args.iterations // 60)
    run_dir = args.out / "runs" / path.name
    if run_dir.exists():  # a run of an earlier call: trained anew
        shutil.rmtree(run_dir)
    memory = PeakMemory(torch.device("cpu"))
    marks: list[tuple[int, float]] = []
    memory.reset()
    start = time.perf_counter()
    with TrainingRun(path, run_dir, config, device="cpu") as training:
        row["setup_seconds"] = time.perf_counter() - start
        marks.append((training.trainer.step, time.perf_counter()))
        training.run(lambda step, total, metrics: marks.append((step, time.perf_counter())))
    row["train_seconds"] = time.perf_counter() - start
    row["train_peak_bytes"] = memory.read()
    loss = config.loss
    bounds = [
        0,
        round(loss.instance_start * args.iterations),
        round(loss.consistency_start * args.iterations),
    ]
    row["seconds_per_iteration"] = phase_seconds(marks, [*bounds, args.iterations])

    loaded = load_trained_run(run_dir, device="cpu")
    memory.reset()
    start = time.perf_counter()
    regions, table = find_run_regions(loaded, device="cpu")
    row["regions_seconds"] = time.perf_counter() - start
    row["instances"] = len(regions)
    start = time.perf_counter()
    out = render_run(run_dir, "test", device="cpu")
    row["render_seconds_per_frame"] = (time.perf_counter() - start) / len(scene.test_frames)
    row["render_peak_bytes"] = memory.read()
    semantics, instance, rgb = read_prediction(out, scene, scene.test_frames)
    scores = score_labels(scene, semantics, instance, rgb)
    row["scores"] = {
        k: float(scores[k])
        for k in (
            "psnr",
            "miou",
            "pq_scene",
            "pq_scene_things",
            "things_true",
            "things_found",
            "things_predicted",
        )  # fmt: skip
    }
    del loaded, regions, table  # free the field before the next count
    gc.collect()
    return row


def gib(value: float) -> str:
    return f"{value / (1 << 30):.2f} GiB"


def fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def report(results: dict) -> list[str]:
    header = ["things asked", "true things", "2D things a view (mean / max)", "setup s",
              "s/it colour / +instances / all losses", "train peak RSS", "3D instances (find s)",
              "render s/frame", "find + render peak RSS", "found / true (predicted)", "thing PQ^scene",
              "PSNR / mIoU / PQ^scene"]  # fmt: skip
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in results["rows"]:
        labels, scores, its = row["labels"], row["scores"], row["seconds_per_iteration"]
        cells = [
            str(row["asked"]),
            str(labels["true"]),
            f"{labels['views_mean']:.1f} / {labels['views_max']}",
            f"{row['setup_seconds']:.1f}",
            " / ".join(fmt(s, ".3f") for s in its),
            gib(row["train_peak_bytes"]),
            f"{row['instances']} ({row['regions_seconds']:.1f} s)",
            f"{row['render_seconds_per_frame']:.2f}",
            gib(row["render_peak_bytes"]),
            f"{scores['things_found']:.0f} / {scores['things_true']:.0f} ({scores['things_predicted']:.0f})",
            f"{100 * scores['pq_scene_things']:.1f}",
            f"{scores['psnr']:.2f} / {100 * scores['miou']:.1f} / {100 * scores['pq_scene']:.1f}",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    a = results["args"]
    lines.append("")
    lines.append(
        f"clutter room of seed {a['seed']} scaled to {results['room']}, {a['min_gap']:g} m between objects, "
        f"{a['frames']} frames at {a['size'][0]}x{a['size'][1]}"
        f"{'' if a['full_light'] else ' (no supersampling or shadows)'}; `{a['preset']}` preset for {a['iterations']} "
        f"iterations, {a['threads']} thread(s), CPU; quality after this short schedule is for reference only"
    )
    return lines


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--things", default="10,50,150,300", help="object counts asked of the synth")
    parser.add_argument("--frames", type=int, default=80)
    parser.add_argument("--size", type=int, nargs=2, default=(192, 144), metavar=("WIDTH", "HEIGHT"))
    parser.add_argument("--iterations", type=int, default=1500)
    parser.add_argument("--preset", default="fast", help="training preset (its schedule cut to --iterations)")
    parser.add_argument("--seed", type=int, default=0, help="clutter room seed")
    parser.add_argument("--room-scale", type=float, default=1.3, help="x and y of the clutter room scaled by")
    parser.add_argument("--min-gap", type=float, default=0.08, help="metres between objects")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (fixed, for timing)")
    parser.add_argument("--cache", type=Path, default=Path("scaling_cache"), help="folder of the scenes")
    parser.add_argument("--out", type=Path, default=Path("scaling_results"))
    parser.add_argument("--full-light", action="store_true", help="supersampling and shadows as the preset")
    args = parser.parse_args()
    try:
        args.counts = [int(v) for v in args.things.split(",")]
    except ValueError:
        parser.error(f"--things: comma-separated integers, got {args.things!r}")
    if not args.counts or min(args.counts) < 1 or args.iterations < 8 or args.frames < 4:
        parser.error("--things must be >= 1, --iterations >= 8 and --frames >= 4")
    return args


def main() -> None:
    import torch

    args = parse_args()
    torch.set_num_threads(args.threads)
    args.cache.mkdir(parents=True, exist_ok=True)
    args.out.mkdir(parents=True, exist_ok=True)
    saved = {k: (list(v) if isinstance(v, tuple) else str(v) if isinstance(v, Path) else v)
             for k, v in vars(args).items()}  # fmt: skip
    X, Y, Z = scaled_room(args).room_size
    results = {"args": saved, "room": f"{X:.1f} x {Y:.1f} x {Z:.1f} m", "rows": []}
    for things in args.counts:
        print(f"[{things} things]", flush=True)
        row = measure(args, things)
        results["rows"].append(row)
        print(f"  {json.dumps(row)}", flush=True)
        (args.out / "results.json").write_text(json.dumps(results, indent=1))
    lines = report(results)
    (args.out / "results.md").write_text("\n".join(lines) + "\n")
    print("\n" + "\n".join(lines))


if __name__ == "__main__":
    main()
