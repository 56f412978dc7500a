"""Training and rendering speed, before and after, idle and next to a competing job, in one run.

    .venv/bin/python benchmarks/speed.py [--before c9fb554] [--scene DIR | --synth room --seed 0]
        [--preset fast] [--before-preset fast] [--iterations N] [--steps 60] [--frames 4] [--out DIR]
        [--rooms 88,93 [--rooms-only] [--cache DIR]]

For this checkout ("after") and, with --before, the package as it was at a git commit ("before", its
src/ exported with `git archive` into a temporary folder and imported from there), on the same scene:

1. `panolift train` (the preset, the command's default thread policy: torch's default before issue 16,
   the thread tuner after) from scratch, idle: wall time to the end of training (time to the quality in
   the last columns), seconds per iteration, peak resident memory (of the training process);
2. `panolift eval` of its test-view renders: PSNR, mIoU, PQ^scene;
3. steps: a copy of the run resumed at its next-to-last checkpoint (every loss on, the geometry formed),
   ``--steps`` iterations timed after a warm-up, idle and while a competing single-core job (a Python
   busy loop) runs; the slowdown is loaded / idle;
4. rendering: the test views of the run in one process (after loading), seconds per frame, idle and
   loaded.

With ``--preset`` (and ``--before-preset`` for the before version, e.g. a preset it does not have) each
version trains that preset. ``--rooms 88,93`` adds suite rooms (synthesized into ``--cache`` unless there)
that every version trains, renders and scores: a time-to-quality table side by side, no step or frame
timing (``--rooms-only`` skips the single scene).

Everything runs as subprocesses one at a time; nothing else should run on the machine while it measures.
Not part of the tests' timing (the smoke test runs it on the tiny scene and checks only the table).
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


# ------------------------------------------------------------------------------------------ workers
def worker_steps(run: str, scene: str, steps: int, threads: int) -> None:
    """Resume a copy of ``run`` at its next-to-last checkpoint and time ``steps`` iterations after a
    warm-up; prints one JSON line. Runs under either version's code (only long-standing APIs)."""
    import torch
    from common import copy_before_last_checkpoint

    from panolift.runs.training import TrainingRun

    tuner = None
    if threads > 0:
        torch.set_num_threads(threads)
    else:
        try:  # the thread tuner exists from issue 16 on; before it, torch's default
            from panolift.lift.threads import ThreadTuner

            tuner = ThreadTuner()
        except ImportError:
            pass
    with tempfile.TemporaryDirectory() as tmp:
        copy = copy_before_last_checkpoint(Path(run), Path(tmp) / "run")
        with TrainingRun(scene, copy, resume=True) as training:
            trainer = training.trainer
            trainer.config.train.iterations = trainer.step + 10 * steps + 100
            warm = 30 if tuner is not None else 5  # the tuner's first measurement, then its choice
            times = []
            for i in range(warm + steps):
                start = time.perf_counter()
                trainer.train_step()
                seconds = time.perf_counter() - start
                if tuner is not None:
                    tuner.step_done(seconds)
                if i >= warm:
                    times.append(seconds)
    print(json.dumps({"s_per_it": sum(times) / len(times), "threads": torch.get_num_threads()}))


def worker_render(run: str, frames: int, threads: int) -> None:
    """Render up to ``frames`` test views of ``run`` in this process; prints seconds per frame (JSON)."""
    import torch

    from panolift.render import render_image
    from panolift.runs import load_run
    from panolift.scene import fit_size, scale_intrinsics

    options = {}
    if threads > 0:
        torch.set_num_threads(threads)
    else:
        try:  # from issue 16 on, `panolift render` tunes the threads chunk by chunk; before, torch's default
            from panolift.commands.common import set_threads

            tuner = set_threads(0, block=3, rounds=1, interval=200)
            options["on_chunk"] = tuner.step_done
        except TypeError:
            pass
    loaded = load_run(run, "cpu")
    scene = loaded.open_scene()
    width, height = fit_size(scene.native_size, width=0)
    K = scale_intrinsics(scene.intrinsics, scene.size, (width, height))
    names = scene.test_frames[: max(1, frames)]
    accepted = inspect.signature(render_image).parameters  # as `panolift render` of that version renders
    if "thing_mask" in accepted:  # stop 37: the instance head only on thing rays
        from panolift.render import thing_mask_of

        options["thing_mask"] = thing_mask_of(loaded.class_set)
    if "parallel_chunks" in accepted:  # stop 37: a chunk of rays per thread
        options["parallel_chunks"] = True

    def render(name):
        render_image(
            loaded.field, K, scene.pose(name), width, height, normalization=loaded.normalization, **options
        )

    render(names[0])  # warm-up (and the tuner's first measurement)
    start = time.perf_counter()
    for name in names:
        render(name)
    seconds = (time.perf_counter() - start) / len(names)
    print(
        json.dumps({"s_per_frame": seconds, "size": f"{width}x{height}", "threads": torch.get_num_threads()})
    )


# ------------------------------------------------------------------------------------------ driver
def export_source(ref: str, into: Path) -> Path:
    """src/ of the repository at git ``ref``, exported into ``into`` (no work tree, no git metadata)."""
    archive = into / "src.tar"
    with open(archive, "wb") as f:
        subprocess.run(["git", "-C", str(ROOT), "archive", ref, "src"], stdout=f, check=True)
    with tarfile.open(archive) as tar:
        tar.extractall(into, filter="data")
    return into / "src"


def run_measured(cmd: list[str], env: dict, log: Path) -> tuple[float, float, str]:
    """Run ``cmd``; returns (seconds, peak RSS in GiB of the process, its stdout). Raises on failure."""
    start = time.perf_counter()
    with open(log, "a") as err:
        err.write(f"$ {' '.join(cmd)}\n")
        err.flush()
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=err, text=True)
        out = proc.stdout.read()
        _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise SystemExit(f"speed: `{' '.join(cmd)}` failed ({code}); see {log}")
    return seconds, usage.ru_maxrss / 2**20, out


class CompetingLoad:
    """A single-core busy loop in another process, while the ``with`` block runs."""

    def __enter__(self):
        self.proc = subprocess.Popen([sys.executable, "-c", "while True: pass"])
        time.sleep(1.0)
        return self

    def __exit__(self, *exc):
        self.proc.kill()
        self.proc.wait()


def last_json(text: str) -> dict:
    return json.loads([line for line in text.splitlines() if line.startswith("{")][-1])


def version_env(src: Path) -> dict:
    """The environment of a version's subprocesses: its src/ first, and its own thread policy."""
    env = dict(os.environ, PYTHONPATH=str(src))
    for key in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env.pop(key, None)
    return env


def train_and_score(name: str, src: Path, scene: Path, args, work: Path, tag: str = "") -> dict:
    """`panolift train` (timed, its peak RSS) + `render --split test` + `eval` of one version on ``scene``
    (the before version with ``--before-preset``); the run is ``work/run-{name}{tag}``."""
    preset = args.before_preset if name == "before" and args.before_preset else args.preset
    env = version_env(src)
    log = work / f"{name}{tag}.log"
    run = work / f"run-{name}{tag}"
    cli = [sys.executable, "-m", "panolift.cli"]
    print(f"[{name}] training {scene} ({preset}) ...", flush=True)
    train_cmd = [*cli, "train", str(scene), "--out", str(run), "--preset", preset, "--device", "cpu"]
    if args.iterations:
        train_cmd += ["--train.iterations", str(args.iterations)]
    train_s, rss, _ = run_measured(train_cmd, env, log)
    history = json.loads((run / "run.json").read_text()) if (run / "run.json").exists() else {}
    iterations = int(history.get("config", {}).get("train", {}).get("iterations", 0)) or None
    print(f"[{name}] rendering and scoring the test views ...", flush=True)
    run_measured([*cli, "render", str(run), "--split", "test", "--device", "cpu"], env, log)
    run_measured([*cli, "eval", str(run)], dict(os.environ, PYTHONPATH=str(ROOT / "src")), log)
    scores = json.loads((run / "render" / "test" / "metrics.json").read_text())
    prediction, machine = scores["prediction"], scores.get("machine_labels") or {}
    row = {
        "version": name,
        "preset": preset,
        "run": str(run),
        "train_s": train_s,
        "iterations": iterations,
        "peak_rss_gib": rss,
        "psnr": prediction.get("psnr"),
        "miou": 100 * prediction["miou"],
        "pq_scene": 100 * prediction["pq_scene"],
    }
    if machine:
        row.update(labels_miou=100 * machine["miou"], labels_pq_scene=100 * machine["pq_scene"])
    return row


def measure_version(name: str, src: Path, scene: Path, args, work: Path) -> dict:
    row = train_and_score(name, src, scene, args, work)
    env = version_env(src)
    log, run = work / f"{name}.log", row["run"]
    me = [sys.executable, str(Path(__file__).resolve())]
    for load in (False, True):
        label = "loaded" if load else "idle"
        print(f"[{name}] timing {args.steps} steps and {args.frames} frames, {label} ...", flush=True)
        steps_cmd = [*me, "--worker", "steps", str(run), str(scene), str(args.steps), "0"]
        render_cmd = [*me, "--worker", "render", str(run), str(args.frames), "0"]
        if load:
            with CompetingLoad():
                steps = last_json(run_measured(steps_cmd, env, log)[2])
                render = last_json(run_measured(render_cmd, env, log)[2])
        else:
            steps = last_json(run_measured(steps_cmd, env, log)[2])
            render = last_json(run_measured(render_cmd, env, log)[2])
        row[f"s_per_it_{label}"] = steps["s_per_it"]
        row[f"threads_{label}"] = steps["threads"]
        row[f"s_per_frame_{label}"] = render["s_per_frame"]
        row["frame_size"] = render["size"]
    return row


def measure_rooms(versions: list[tuple[str, Path]], args) -> list[dict]:
    """Every version trained, rendered and scored on each suite room of ``args.rooms`` (one at a time,
    idle, each version's own thread policy): one row per room."""
    from suite import parse_seeds, synthesize

    rows = []
    for key in parse_seeds(args.rooms):
        info = synthesize(key, args.cache, os.cpu_count() or 1)
        row = {"room": key, "descriptor": info["descriptor"], "split": info["split"]}
        for name, src in versions:
            short = name.split()[0]
            result = train_and_score(short, src, info["scene"], args, args.out, tag=f"-{key}")
            keys = ("preset", "train_s", "iterations", "psnr", "miou", "pq_scene")
            row[short] = {k: result.get(k) for k in keys}
            row.setdefault("labels_miou", result.get("labels_miou"))
            row.setdefault("labels_pq_scene", result.get("labels_pq_scene"))
        rows.append(row)
    return rows


def rooms_table(rows: list[dict], names: list[str]) -> list[str]:
    """Time to quality on the suite rooms, side by side (and after against before, with two versions)."""

    def cell(r: dict) -> str:
        return (
            f"{r['train_s']:.0f} s ({r.get('preset', '?')}, {r['iterations']} it): "
            f"{r['psnr']:.2f} / {r['miou']:.1f} / {r['pq_scene']:.1f}"
        )

    shorts = [n.split()[0] for n in names]
    head = "| room | 2D mIoU / PQ^scene | " + " | ".join(
        f"{n}: train s, PSNR / mIoU / PQ^scene" for n in names
    )
    lines = [
        head + (" | faster | after - before |" if len(names) == 2 else " |"),
        "|---" * (2 + len(names) + (2 if len(names) == 2 else 0)) + "|",
    ]
    for row in rows:
        labels = "-"
        if row.get("labels_miou") is not None:
            labels = f"{row['labels_miou']:.1f} / {row['labels_pq_scene']:.1f}"
        line = f"| {row['room']} ({row['descriptor']}) | {labels} | " + " | ".join(
            cell(row[n]) for n in shorts
        )
        if len(names) == 2:
            b, a = row[shorts[0]], row[shorts[1]]
            line += (
                f" | {b['train_s'] / a['train_s']:.2f}x | {a['psnr'] - b['psnr']:+.2f} dB / "
                f"{a['miou'] - b['miou']:+.1f} / {a['pq_scene'] - b['pq_scene']:+.1f} |"
            )
        else:
            line += " |"
        lines.append(line)
    if len(names) == 2 and rows:
        b = [r[shorts[0]] for r in rows]
        a = [r[shorts[1]] for r in rows]
        ratios = sorted(x["train_s"] / y["train_s"] for x, y in zip(b, a, strict=True))

        def worst(key):
            return min(y[key] - x[key] for x, y in zip(b, a, strict=True))

        lines += [
            "",
            f"rooms: training {statistics.median(ratios):.2f}x faster (median; {ratios[0]:.2f}-{ratios[-1]:.2f}x), "
            f"the worst after - before: PSNR {worst('psnr'):+.2f} dB, mIoU {worst('miou'):+.1f}, "
            f"PQ^scene {worst('pq_scene'):+.1f}",
        ]
    return lines


def table(rows: list[dict]) -> list[str]:
    def f(value, digits=2):
        return "-" if value is None else f"{value:.{digits}f}"

    lines = [
        "| version | train s | s/it idle | s/it loaded | slowdown | threads idle/loaded | peak RSS GiB "
        "| render s/frame idle | loaded | PSNR | mIoU | PQ^scene |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['version']}, {r.get('preset', '?')} | {r['train_s']:.0f} | {f(r['s_per_it_idle'], 3)} | {f(r['s_per_it_loaded'], 3)} "
            f"| {r['s_per_it_loaded'] / r['s_per_it_idle']:.2f}x | {r['threads_idle']}/{r['threads_loaded']} "
            f"| {r['peak_rss_gib']:.2f} | {f(r['s_per_frame_idle'], 3)} | {f(r['s_per_frame_loaded'], 3)} "
            f"| {f(r.get('psnr'))} | {f(r.get('miou'), 1)} | {f(r.get('pq_scene'), 1)} |"
        )
    if len(rows) == 2:
        before, after = rows
        lines += [
            "",
            f"after vs before: training {before['train_s'] / after['train_s']:.2f}x faster (idle), steps "
            f"{before['s_per_it_idle'] / after['s_per_it_idle']:.2f}x idle and "
            f"{before['s_per_it_loaded'] / after['s_per_it_loaded']:.2f}x loaded, rendering "
            f"{before['s_per_frame_idle'] / after['s_per_frame_idle']:.2f}x idle and "
            f"{before['s_per_frame_loaded'] / after['s_per_frame_loaded']:.2f}x loaded",
        ]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", default="", help="git ref of the 'before' version (none: only after)")
    parser.add_argument("--scene", type=Path, default=None, help="a scene folder (default: synthesize one)")
    parser.add_argument("--synth", default="room", help="synth preset when no --scene (room: make demo's)")
    parser.add_argument("--seed", type=int, default=0, help="synth seed when no --scene")
    parser.add_argument("--preset", default="fast", help="training preset")
    parser.add_argument(
        "--before-preset", default="", help="the before version's training preset (default: --preset)"
    )
    parser.add_argument("--iterations", type=int, default=0, help="training iterations (0: the preset's)")
    parser.add_argument("--steps", type=int, default=60, help="iterations timed per step measurement")
    parser.add_argument("--frames", type=int, default=4, help="test frames timed per render measurement")
    parser.add_argument("--out", type=Path, default=Path("/tmp/panolift-speed"), help="work folder")
    parser.add_argument(
        "--rooms", default="", help="suite rooms (seeds, e.g. 88,93) that every version also trains, "
        "renders and scores, one at a time: time to quality side by side (no step or frame timing)"
    )  # fmt: skip
    parser.add_argument("--rooms-only", action="store_true", help="only --rooms (no single-scene table)")
    parser.add_argument(
        "--cache", type=Path, default=Path("/tmp/suite-cache"), help="the suite's scene folder (--rooms)"
    )
    parser.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        kind, *rest = args.worker
        if kind == "steps":
            worker_steps(rest[0], rest[1], int(rest[2]), int(rest[3]))
        else:
            worker_render(rest[0], int(rest[1]), int(rest[2]))
        return
    if args.out.exists():
        shutil.rmtree(args.out)
    args.out.mkdir(parents=True)
    versions = []
    if args.before:
        versions.append((f"before ({args.before})", export_source(args.before, args.out)))
    versions.append(("after", ROOT / "src"))
    lines: list[str] = []
    rows: list[dict] = []
    presets = args.preset
    if args.before and args.before_preset and args.before_preset != args.preset:
        presets = f"{args.before_preset} (before), {args.preset} (after)"
    if not args.rooms_only:
        scene = args.scene
        if scene is None:
            scene = args.out / "scene"
            print(f"synthesizing {args.synth} (seed {args.seed}) -> {scene}", flush=True)
            subprocess.run(
                [sys.executable, "-m", "panolift.cli", "synth", str(scene), "--preset", args.synth,
                 "--seed", str(args.seed)],
                check=True, stdout=subprocess.DEVNULL,
            )  # fmt: skip
        rows = [measure_version(name.split()[0], src, scene, args, args.out) for name, src in versions]
        for row, (name, _) in zip(rows, versions, strict=True):
            row["version"] = name
        lines += [
            f"# Speed: preset {presets}, scene {scene}, {rows[0].get('frame_size', '?')} frames, "
            f"{os.cpu_count()} CPUs",
            "",
            *table(rows),
        ]
        if rows[-1].get("labels_miou") is not None:
            lines += ["", f"2D machine labels on the same test views: mIoU {rows[-1]['labels_miou']:.1f}, "
                      f"PQ^scene {rows[-1]['labels_pq_scene']:.1f}"]  # fmt: skip
    room_rows: list[dict] = []
    if args.rooms:
        room_rows = measure_rooms(versions, args)
        lines += [
            *([""] if lines else []),
            f"# Time to quality on suite rooms: preset {presets}, one training each, idle, {os.cpu_count()} CPUs",
            "",
            *rooms_table(room_rows, [name for name, _ in versions]),
        ]
    text = "\n".join(lines)
    print("\n" + text)
    (args.out / "results.md").write_text(text + "\n")
    (args.out / "results.json").write_text(json.dumps(rows, indent=2) + "\n")
    if room_rows:
        (args.out / "rooms.json").write_text(json.dumps(room_rows, indent=2) + "\n")
    print(f"wrote {args.out / 'results.md'}")


if __name__ == "__main__":
    main()
