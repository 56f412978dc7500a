"""Lifting across the synthetic suite: rooms of every shape, size, path, image and noise level, each trained,
rendered and scored beside its 2D labels, with tables per scene, per class, and for tuning and held-out seeds.

    .venv/bin/python benchmarks/suite.py [--preset fast] [--seeds tuning|heldout|all|clutter|0,3,independent]
        [--threads 1] [--reuse] [--extra-train-args="--loss.no-use-tta"] [--cache DIR] [--runs DIR] [--out DIR]

Scenes come from `panolift synth SCENE --preset suite --seed N` (`--preset clutter --seed N` for the
cluttered rooms clutter-N, `--preset independent`) and are kept in
--cache (reused when present). Training, rendering and scoring run the `panolift` command as subprocesses
(`train`, `render --split test`, `eval`), one at a time. Not part of the tests: a `fast` training takes
minutes per scene on a CPU. Never tune on the held-out seeds.

Each scene is also scored for its vote ceiling (`panolift.evaluate.ceiling`): every true object in the
class its training views' confidence-weighted 2D labels vote for, boundaries exact. It says which rooms
lifting fails and which the noise draw fails (training views that outvote the truth). Its things are
also counted for what the 2D masks tell apart (`told_apart`): the true things that the majority of the
training views that show a pair give two masks, with every other thing; a lifting that decides "one object
or two" by the views' majority finds no more of them, whatever its geometry.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows: no lock, so suite runs side by side there must not share a cache
    fcntl = None

import numpy as np
from PIL import Image

from panolift.evaluate.ceiling import told_apart, vote_ceiling
from panolift.evaluate.coverage import MIN_VIEWS, ViewCoverage
from panolift.evaluate.metrics import mean_iou
from panolift.evaluate.protocols import MISSED_CAUSES
from panolift.scene import Scene

sys.path.insert(0, str(Path(__file__).resolve().parent))
from suite_tables import (  # noqa: E402
    class_table,
    scene_table,
    summary_lines,
    write_csv,
)

STRUCTURE = ("wall", "floor", "ceiling")
DEPTH_OFF = 1.15  # rendered / true depth beyond this (or under its inverse): the geometry is wrong there


def panolift_command() -> list[str]:
    """The `panolift` entry point of this interpreter's environment."""
    script = Path(sys.executable).parent / "panolift"
    if script.exists():
        return [str(script)]
    found = shutil.which("panolift")
    if found is None:
        raise SystemExit("suite: cannot find the `panolift` command (install the package first)")
    return [found]


def parse_seeds(text: str) -> list[str]:
    """Scene keys from "tuning", "heldout", "all", "independent", "clutter" (the cluttered rooms clutter-0,
    clutter-1, ...), "exposure", "gloss", "mirror", "platform" and "blur" (the suite rooms seen by an
    auto-exposure camera, with glossy surfaces, with mirror-like ones, with a raised floor, filmed with motion
    blur), their single keys (clutter-N, exposure-N, gloss-N, mirror-N, platform-N, blur-N) and seed
    numbers, comma separated."""
    from panolift.synth.suite import (
        BLUR_SEEDS,
        CLUTTER_SEEDS,
        EXPOSURE_SEEDS,
        GLOSS_SEEDS,
        HELD_OUT_SEEDS,
        PLATFORM_SEEDS,
        SUITE_SEEDS,
        TUNING_SEEDS,
    )

    groups = {
        "tuning": TUNING_SEEDS,
        "heldout": HELD_OUT_SEEDS,
        "held-out": HELD_OUT_SEEDS,
        "all": SUITE_SEEDS,
    }
    keys: list[str] = []
    for token in [t.strip() for t in text.split(",") if t.strip()]:
        if token in groups:
            keys += [str(s) for s in groups[token]]
        elif token == "clutter":
            keys += [f"clutter-{s}" for s in CLUTTER_SEEDS]
        elif token == "exposure":
            keys += [f"exposure-{s}" for s in EXPOSURE_SEEDS]
        elif token in ("gloss", "mirror"):
            keys += [f"{token}-{s}" for s in GLOSS_SEEDS]
        elif token == "platform":
            keys += [f"platform-{s}" for s in PLATFORM_SEEDS]
        elif token == "blur":
            keys += [f"blur-{s}" for s in BLUR_SEEDS]
        elif (
            token == "independent"
            or token.isdigit()
            or re.fullmatch(r"(clutter|exposure|gloss|mirror|platform|blur)-\d+", token)
        ):
            keys.append(token)
        else:
            raise SystemExit(
                f"suite: unknown seed {token!r} (numbers, tuning, heldout, all, independent, clutter, clutter-N, "
                "exposure, exposure-N, gloss, gloss-N, mirror, mirror-N, platform, platform-N, blur, blur-N)"
            )
    return list(dict.fromkeys(keys))


def run_logged(cmd: list[str], log: Path, threads: int) -> tuple[int, float]:
    """Run a command with its output in ``log``; returns (exit status, seconds)."""
    env = dict(os.environ)
    if threads > 0:
        env.update({k: str(threads) for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")})
    log.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    with open(log, "w") as f:
        f.write("$ " + shlex.join(cmd) + "\n")
        f.flush()
        rc = subprocess.call(cmd, stdout=f, stderr=subprocess.STDOUT, env=env)
    return rc, time.perf_counter() - start


def synthesize(key: str, cache: Path, threads: int) -> dict:
    """Synthesize scene ``key`` into the cache unless it is there; returns what `panolift synth` reported.

    Several suite runs may share one cache (two variants trained side by side): a lock file per scene
    makes the second wait for the first's synthesis and reuse it, and the scene is written to a temporary
    folder and renamed into place, so a killed synthesis never leaves a partial scene behind."""
    scene = cache / (f"suite-{key}" if key.isdigit() else key)
    log = cache / f"{scene.name}.synth.txt"
    cache.mkdir(parents=True, exist_ok=True)
    with open(cache / f".{scene.name}.lock", "w") as lock:
        if fcntl is not None:
            fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if not (scene / "splits.json").exists() or not log.exists():
            if key.isdigit():
                preset = ["--preset", "suite", "--seed", key]
            elif key.startswith("clutter-"):
                preset = ["--preset", "clutter", "--seed", key.split("-", 1)[1]]
            elif key.startswith("exposure-"):
                preset = ["--preset", "exposure", "--seed", key.split("-", 1)[1]]
            elif key.startswith(("gloss-", "mirror-", "platform-", "blur-")):
                preset = ["--preset", key.split("-", 1)[0], "--seed", key.split("-", 1)[1]]
            else:
                preset = ["--preset", key]
            print(f"[{key}] synthesizing {scene}", flush=True)
            partial = cache / f".{scene.name}.partial"
            shutil.rmtree(partial, ignore_errors=True)
            rc, _ = run_logged([*panolift_command(), "synth", str(partial), *preset], log, threads)
            if rc != 0:
                shutil.rmtree(partial, ignore_errors=True)  # no scene: the next run synthesizes again
                raise SystemExit(f"suite: `panolift synth` failed for {key}; see {log}")
            shutil.rmtree(scene, ignore_errors=True)
            partial.rename(scene)
    text = log.read_text()

    def field(name: str) -> str:
        match = re.search(rf"^{name}\s+(.*)$", text, re.M)
        return match.group(1).strip() if match else ""

    describe = field("describe")
    return {
        "key": key,
        "scene": scene,
        "split": (re.search(r"\((tuning|held-out|extra)\)$", describe) or [None, "independent"])[1],
        "descriptor": re.sub(r" \((tuning|held-out|extra)\)$", "", describe),
        "frames": int((re.match(r"(\d+)", field("frames")) or [0, 0])[1]),
        "size": (re.search(r"(\d+x\d+)$", field("frames")) or [None, ""])[1],
        "checks": field("checks"),
        "synth_miou": float((re.match(r"([\d.]+)", field("machine mIoU")) or [0, "nan"])[1]),
    }


def read_png(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path))


def depth_and_confusion(scene: Path, render: Path, frames: list[str], num_classes: int) -> dict:
    """Rendered depth against ground-truth depth (both PNG millimetres) and confusion matrices (ground truth
    x predicted class) of the lifted semantics and of the 2D labels over the test frames: on all their
    pixels, and on the pixels that at least MIN_VIEWS training views see (``panolift.evaluate.coverage``:
    what lifting can be asked to get right); and per true class the pixels that lifting gets wrong where
    its rendered depth is off too (more than DEPTH_OFF x too far or too near: the geometry is wrong there,
    not only the class)."""
    errors, ratios = [], []
    shape = (num_classes, num_classes)
    lifted, labels = np.zeros(shape, dtype=np.int64), np.zeros(shape, dtype=np.int64)
    lifted_seen, labels_seen = np.zeros_like(lifted), np.zeros_like(lifted)
    coverage = ViewCoverage(Scene(scene))
    wrong_depth = np.zeros(num_classes, dtype=np.int64)
    for name in frames:
        gt_depth = read_png(scene / "depth" / f"{name}.png").astype(np.float64) / 1000.0
        depth = read_png(render / "depth" / f"{name}.png").astype(np.float64) / 1000.0
        valid = gt_depth > 0
        errors.append(np.abs(depth - gt_depth)[valid])
        ratios.append(depth[valid] / gt_depth[valid])
        gt = read_png(scene / "rs_semantics" / f"{name}.png").astype(np.int64).ravel()
        seen = coverage.count(name).ravel() >= MIN_VIEWS
        frame_ratio = (depth / np.where(valid, gt_depth, 1.0)).ravel()
        depth_off = valid.ravel() & ((frame_ratio > DEPTH_OFF) | (frame_ratio < 1.0 / DEPTH_OFF))
        for matrix, matrix_seen, folder in (
            (lifted, lifted_seen, render / "semantics"),
            (labels, labels_seen, scene / "m2f_semantics"),
        ):
            pred = read_png(folder / f"{name}.png").astype(np.int64).ravel()
            keep = (gt > 0) & (pred < num_classes)
            pairs = gt * num_classes + pred
            matrix += np.bincount(pairs[keep], minlength=num_classes**2).reshape(shape)
            matrix_seen += np.bincount(pairs[keep & seen], minlength=num_classes**2).reshape(shape)
            if matrix is lifted:
                wrong = keep & (pred != gt) & depth_off
                wrong_depth += np.bincount(gt[wrong], minlength=num_classes)
    ratio = np.concatenate(ratios)
    return {
        "depth_error": float(np.concatenate(errors).mean()),
        "depth_ratio": float(np.median(ratio)),
        "depth_short": float(np.mean(ratio < 0.8)),
        "confusion_lifted": lifted,
        "confusion_labels": labels,
        "seen_share": float(labels_seen.sum() / max(labels.sum(), 1)),
        "miou_seen_2d": mean_iou(labels_seen)[0],
        "miou_seen": mean_iou(lifted_seen)[0],
        "class_seen": labels_seen.sum(axis=1),
        "class_wrong_depth": wrong_depth,
    }


def lift_scene(info: dict, args: argparse.Namespace, runs: Path) -> dict:
    """Train, render and score one scene (or reuse its metrics); returns its table row."""
    key, scene = info["key"], info["scene"]
    run = runs / scene.name
    logs = runs / "logs"
    metrics_path = run / "render" / "test" / "metrics.json"
    row = dict(info, status="ok", train_seconds=float("nan"))
    timing = runs / "logs" / f"{scene.name}.time.json"
    if not (args.reuse and metrics_path.exists()):
        shutil.rmtree(run, ignore_errors=True)
        train = [*panolift_command(), "train", str(scene), "--out", str(run), "--preset", args.preset]
        train += ["--threads", str(args.threads), *shlex.split(args.extra_train_args)]
        print(f"[{key}] training {info['descriptor']} -> {run}", flush=True)
        rc, seconds = run_logged(train, logs / f"{scene.name}.train.log", args.threads)
        timing.write_text(json.dumps({"train_seconds": seconds}))
        if rc != 0:
            return dict(row, status=f"train failed ({rc})", train_seconds=seconds)
        steps = [
            (
                "render",
                [*panolift_command(), "render", str(run), "--split", "test", "--threads", str(args.threads)],
            ),
            ("eval", [*panolift_command(), "eval", str(run)]),
        ]
        for what, cmd in steps:
            rc, _ = run_logged(cmd, logs / f"{scene.name}.{what}.log", args.threads)
            if rc != 0:
                return dict(row, status=f"{what} failed ({rc})", train_seconds=seconds)
    else:
        print(f"[{key}] reusing {metrics_path}", flush=True)
    if timing.exists():
        row["train_seconds"] = json.loads(timing.read_text())["train_seconds"]
    metrics = json.loads(metrics_path.read_text())
    pred, labels = metrics["prediction"], metrics["machine_labels"]
    splits = json.loads((scene / "splits.json").read_text())
    frames = splits.get("test") or splits.get("val")
    names = list(pred["per_class_iou"])
    extra = depth_and_confusion(scene, run / "render" / "test", frames, len(names))
    unseen = (
        run / "render" / "test" / "unseen.json"
    )  # `render`'s guard (runs with label votes, since stop 73)
    extra["unseen_share"] = json.loads(unseen.read_text())["share"] if unseen.exists() else None
    opened = Scene(scene)
    ceiling, apart = vote_ceiling(opened), told_apart(opened)
    return dict(
        row,
        **extra,
        miou_ceiling=ceiling["miou"],
        pq_ceiling=ceiling["pq_scene"],
        outvoted=ceiling["outvoted"],
        class_names=names,
        miou_2d=labels["miou"],
        miou=pred["miou"],
        pq_2d=labels["pq_scene"],
        pq=pred["pq_scene"],
        pq_things_2d=labels.get("pq_scene_things", float("nan")),
        pq_things=pred.get("pq_scene_things", float("nan")),
        things_true=pred.get("things_true"),  # absent from metrics written before stop 22
        things_found=pred.get("things_found"),
        things_found_2d=labels.get("things_found"),
        things_found_ceiling=ceiling.get("things_found"),
        things_told_apart=apart["things_told_apart"],
        **{key: pred.get(key) for key in MISSED_CAUSES},  # absent from metrics written before stop 27
        miou_interior_2d=labels.get("miou_interior"),  # absent from metrics written before stop 71
        miou_interior=pred.get("miou_interior"),
        boundary_error_share=pred.get("boundary_error_share"),
        psnr=pred["psnr"],
        psnr_aligned=pred.get("psnr_gain_aligned", float("nan")),
        class_iou_2d=labels["per_class_iou"],
        class_iou=pred["per_class_iou"],
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--preset", default="fast", help="training preset (fast, quick, paper, tiny)")
    parser.add_argument(
        "--seeds",
        default="tuning",
        help="tuning, heldout, all, independent, clutter, exposure, gloss, mirror, platform, blur, or keys: 0,3,clutter-1,gloss-214",
    )
    parser.add_argument(
        "--cache", type=Path, default=Path("/tmp/suite-cache"), help="folder of synthesized scenes"
    )
    parser.add_argument("--runs", type=Path, default=Path("/tmp/suite-runs"), help="folder of training runs")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads for training and rendering")
    parser.add_argument("--reuse", action="store_true", help="skip scenes whose metrics.json exists")
    parser.add_argument(
        "--extra-train-args",
        default="",
        help='passed to `panolift train`; write it with = when it starts with --: --extra-train-args="--loss.no-use-tta"',
    )
    parser.add_argument(
        "--tag", default="", help="name of this variant's run folder (default: preset + args)"
    )
    parser.add_argument("--out", type=Path, default=None, help="folder for results.csv and results.md")
    parser.add_argument("--synth-only", action="store_true", help="only synthesize and check the scenes")
    args = parser.parse_args()

    keys = parse_seeds(args.seeds)
    infos = [synthesize(key, args.cache, args.threads) for key in keys]
    if args.synth_only:
        print(f"{'seed':>11s}  {'split':8s}  {'descriptor':46s} {'size':>8s} {'2D mIoU':>7s}  checks")
        for i in infos:
            print(
                f"{i['key']:>11s}  {i['split']:8s}  {i['descriptor']:46s} {i['size']:>8s} "
                f"{i['synth_miou']:7.1f}  {i['checks']}"
            )
        return
    tag = args.tag or args.preset + (
        "-" + hashlib.sha1(args.extra_train_args.encode()).hexdigest()[:8] if args.extra_train_args else ""
    )
    runs = args.runs / tag
    rows = []
    for info in infos:
        rows.append(lift_scene(info, args, runs))
        print("\n".join(scene_table(rows[-1:], header=False)), flush=True)
    lines = [f"# Suite: preset {args.preset}, {len(rows)} scenes, runs in {runs}"]
    if args.extra_train_args:
        lines[0] += f", train args `{args.extra_train_args}`"
    lines += ["", "## Scenes", "", *scene_table(rows), "", "## Classes (test frames, all scenes)", ""]
    lines += [*class_table(rows), "", "## Summary", ""]
    for split in ("tuning", "held-out", "independent", "extra"):
        group = [r for r in rows if r["split"] == split]
        if group:
            lines += [*summary_lines(split, group), ""]
    text = "\n".join(lines)
    print("\n" + text)
    out = args.out or runs
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.md").write_text(text + "\n")
    write_csv(out / "results.csv", rows)
    print(f"wrote {out / 'results.md'} and {out / 'results.csv'}")


if __name__ == "__main__":
    main()
