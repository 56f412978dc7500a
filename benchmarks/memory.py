"""Peak memory of training against the number of frames: the training targets in memory, streamed from disk
through a working set, and (optionally) the loader before compact targets.

    .venv/bin/python benchmarks/memory.py [--frames 60,300,900] [--size 512] [--iterations 20]
        [--stream-gib 1] [--old-src DIR] [--cache DIR] [--distinct 60]

The largest scene is the `room` preset at --size x --size with the most --frames frames, synthesized without
supersampling or shadows (`panolift synth --light`) into --cache and reused; the smaller ones are its first
frames (hard links, with splits.json cut to them). Each mode runs `panolift train SCENE --train.iterations
N --threads 1 --device cpu` as a child process and reports its peak resident memory (the kernel's ru_maxrss
of the child) and wall time; training a few iterations is enough, since the targets are loaded before the
first one and the fast preset's field is a few megabytes. `--old-src DIR` adds the loader of an older
checkout (its src/ folder, e.g. `git archive 2738286 src | tar -x -C /tmp/old`), skipped where its float16
targets would not fit in half of the available memory. `--distinct N` renders only N frames and repeats
them up to the largest count (peak memory depends on the pixel count, not on what the pixels show; the
synth column then extrapolates from the N frames). Not part of the tests.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

OLD_BYTES_PER_PIXEL = 65  # rgb 3, 22 float16 probabilities 44, confidence 2, instance 4, segments 4, index 8
COMPACT_BYTES_PER_PIXEL = 15


def panolift_command() -> list[str]:
    return [sys.executable, "-m", "panolift.cli"]


def run_measured(cmd: list[str], env: dict, log: Path) -> tuple[int, float, float]:
    """(exit status, peak RSS in GiB, seconds) of a child process."""
    start = time.perf_counter()
    with open(log, "w") as f:
        process = subprocess.Popen(cmd, env=env, stdout=f, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(process.pid, 0)
    return os.waitstatus_to_exitcode(status), usage.ru_maxrss / (1 << 20), time.perf_counter() - start


def synthesize(cache: Path, frames: int, size: int, env: dict) -> tuple[Path, float | None]:
    """The scene (synthesized unless cached) and the seconds its synthesis took (from its timing file)."""
    scene = cache / f"room-{frames}f-{size}px"
    timing = cache / f"{scene.name}.json"
    if not (scene / "splits.json").exists():
        cmd = [*panolift_command(), "synth", str(scene), "--preset", "room", "--num-frames", str(frames),
               "--size", str(size), str(size), "--light", "--overwrite"]  # fmt: skip
        print(f"synthesizing {scene.name} ...", flush=True)
        status, rss, seconds = run_measured(cmd, env, cache / f"{scene.name}.synth.log")
        if status != 0:
            raise SystemExit(f"memory: synth failed, see {cache / f'{scene.name}.synth.log'}")
        timing.write_text(json.dumps({"seconds": seconds, "peak_rss_gib": rss}))
    seconds = json.loads(timing.read_text())["seconds"] if timing.exists() else None
    return scene, seconds


def repeated_frames(source: Path, frames: int) -> Path:
    """A scene of ``frames`` frames that repeats the frames 0..n-1 of ``source`` in turn (hard links; frame
    k is frame k mod n, in the split of that frame). Training memory depends on the pixel count, not on
    what the pixels show, so this measures a large scene without rendering every frame of it."""
    distinct = len(list((source / "pose").iterdir()))
    scene = source.parent / source.name.replace(source.name.split("-")[1], f"{frames}f-of-{distinct}")
    if (scene / "splits.json").exists():
        return scene
    for folder in sorted(p for p in source.iterdir() if p.is_dir()):
        (scene / folder.name).mkdir(parents=True, exist_ok=True)
        for file in folder.iterdir():
            if folder.name == "intrinsic":
                os.link(file, scene / folder.name / file.name)
                continue
            for k in range(int(file.stem), frames, distinct):
                os.link(file, scene / folder.name / f"{k}{file.suffix}")
    shutil.copy(source / "segmentation_data.json", scene / "segmentation_data.json")
    splits = json.loads((source / "splits.json").read_text())
    repeat = {
        key: [str(k) for k in range(frames) if str(k % distinct) in names] for key, names in splits.items()
    }
    (scene / "splits.json").write_text(json.dumps(repeat))
    return scene


def first_frames(source: Path, frames: int) -> Path:
    """A scene of the first ``frames`` frames of ``source`` (hard links; splits.json restricted to them)."""
    scene = source.parent / source.name.replace(source.name.split("-")[1], f"{frames}f")
    if (scene / "splits.json").exists():
        return scene
    keep = {str(i) for i in range(frames)}
    for folder in sorted(p for p in source.iterdir() if p.is_dir()):
        (scene / folder.name).mkdir(parents=True, exist_ok=True)
        for file in folder.iterdir():
            if file.stem in keep or folder.name == "intrinsic":
                target = scene / folder.name / file.name
                if not target.exists():
                    os.link(file, target)
    shutil.copy(source / "segmentation_data.json", scene / "segmentation_data.json")
    splits = json.loads((source / "splits.json").read_text())
    cut = {key: [n for n in names if n in keep] for key, names in splits.items()}
    (scene / "splits.json").write_text(json.dumps(cut))
    return scene


def available_gib() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) / (1 << 20)
    return 8.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", default="60,300,900", help="frame counts (3/4 of them train)")
    parser.add_argument("--size", type=int, default=512, help="image width and height")
    parser.add_argument("--iterations", type=int, default=20)
    parser.add_argument(
        "--stream-gib", type=float, default=1.0, help="--train.max-memory of the streamed mode"
    )
    parser.add_argument(
        "--old-src", type=Path, default=None, help="src/ of a checkout before compact targets"
    )
    parser.add_argument("--cache", type=Path, default=Path("memory_cache"))
    parser.add_argument(
        "--distinct", type=int, default=0,
        help="synthesize only this many frames and repeat them up to the largest count (0: render all)",
    )  # fmt: skip
    args = parser.parse_args()
    args.cache.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    modes = [("in memory", None, []), (f"streamed ({args.stream_gib:g} GiB)", None,
             ["--train.max-memory", str(args.stream_gib)])]  # fmt: skip
    if args.old_src is not None:
        modes.insert(0, ("before (float16)", args.old_src.resolve(), []))
    rows = []
    counts = [int(f) for f in args.frames.split(",")]
    if args.distinct > 0:
        source, source_seconds = synthesize(args.cache, args.distinct, args.size, env)
        largest = repeated_frames(source, max(counts))
        largest_seconds = source_seconds * max(counts) / args.distinct if source_seconds else None
    else:
        largest, largest_seconds = synthesize(args.cache, max(counts), args.size, env)
    for frames in counts:
        scene = largest if frames == max(counts) else first_frames(largest, frames)
        synth_seconds = largest_seconds * frames / max(counts) if largest_seconds else None
        train_frames = len(json.loads((scene / "splits.json").read_text())["train"])
        pixels = train_frames * args.size * args.size
        row = {"frames": frames, "train": train_frames, "pixels": pixels, "synth": synth_seconds}
        for name, src, extra in modes:
            if src is not None and 2 * pixels * OLD_BYTES_PER_PIXEL / (1 << 30) > 0.5 * available_gib():
                row[name] = None  # the old loader stacks its lists: twice its targets at the peak
                continue
            mode_env = {**env, "PYTHONPATH": str(src)} if src is not None else env
            with tempfile.TemporaryDirectory(dir=args.cache) as tmp:
                cmd = [*panolift_command(), "train", str(scene), "--out", f"{tmp}/run", "--threads", "1",
                       "--device", "cpu", "--train.iterations", str(args.iterations), *extra]  # fmt: skip
                log = args.cache / f"{scene.name}.{name.split()[0]}.log"
                status, rss, seconds = run_measured(cmd, mode_env, log)
            if status != 0:
                raise SystemExit(f"memory: {name} training failed on {scene.name}, see {log}")
            row[name] = (rss, seconds)
            print(f"{scene.name}: {name}: peak RSS {rss:.2f} GiB, {seconds:.0f} s", flush=True)
        rows.append(row)
    print_table(rows, [m[0] for m in modes], args)


def print_table(rows: list[dict], modes: list[str], args) -> None:
    header = ["frames (train)", "pixels", "targets before", "targets now"]
    header += [f"peak RSS {m}" for m in modes] + ["synth (share of the largest)"]
    print("\n| " + " | ".join(header) + " |\n|" + "---|" * len(header))
    for row in rows:
        gib = row["pixels"] / (1 << 30)
        cells = [f"{row['frames']} ({row['train']})", f"{row['pixels'] / 1e6:.0f} M",
                 f"{gib * OLD_BYTES_PER_PIXEL:.1f} GiB", f"{gib * COMPACT_BYTES_PER_PIXEL:.2f} GiB"]  # fmt: skip
        for mode in modes:
            value = row.get(mode)
            cells.append(f"{value[0]:.2f} GiB ({value[1]:.0f} s)" if value else "not run (too large)")
        cells.append(f"{row['synth']:.0f} s" if row["synth"] is not None else "-")
        print("| " + " | ".join(cells) + " |")
    print(f"\n{args.size}x{args.size}, fast preset, {args.iterations} iterations, 1 thread, CPU")


if __name__ == "__main__":
    main()
