"""Training at ScanNet scale: the `fast` and `paper` presets trained for equal wall time on one synthetic
scene, with time-to-quality, iterations per second, peak memory and test metrics.

    .venv/bin/python benchmarks/gpu_scale.py [--device auto|cpu|cuda] [--frames 300] [--width 512]
        [--height 384] [--things 20] [--seconds 600] [--presets fast,paper] [--eval-every 60]
        [--eval-frames 8] [--scene DIR] [--out DIR] [--threads N] [--ray-scale 1] [--light] [--smoke]

The scene is the synthetic `room` with --frames frames of --width x --height and --things objects (a
ScanNet-size scene by default: 300 frames at 512x384, a quarter of them test frames), synthesized into
--scene (default OUT/scene-...) and reused from there when it is present; --scene may also name any scene
with ground truth. Each preset trains with its own configuration and schedule (the paper preset's are
450k iterations long: that is the comparison) until --seconds of training have passed; a preset whose
schedule ends earlier goes on at its last learning rate (--stop-at-schedule-end stops it). Before the
first step, every --eval-every seconds of training and at the end it renders --eval-frames test views
(evenly spread over the test split) and scores them with the evaluation's own code (PSNR, mIoU, PQ^scene,
the `standard` protocol, colours rounded to 8 bits as `panolift render` writes them); evaluation does not
count as training time. Clocks are read after a CUDA synchronisation. Peak memory is the device's
(torch.cuda.max_memory_allocated) on CUDA and the process's peak RSS on a CPU, during setup and training
(evaluation excluded), measured per preset.

Time to quality: the training seconds at which a preset's curve first reaches PSNR >= (best final PSNR of
the presets - --psnr-tolerance dB) and mIoU >= (best final mIoU - --miou-tolerance points); it is only as
fine as --eval-every.

--smoke scales everything down for a CPU (what tests/benchmarks/test_gpu_scale.py runs): 12 frames at
64x48, 7 objects, 3 s a preset, evaluation every second on 3 test frames, and every preset's rays per step
scaled by 1/16 (the paper preset's 5120 rays take about 30 s a step on one CPU thread before its first
occupancy grid). Options given explicitly win over --smoke's. Writes results.json and results.md to --out.
Not part of the tests at full size (minutes of GPU, hours of CPU).
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import json
import math
import os
import resource
import time
from pathlib import Path

import numpy as np
from common import add_device_argument, pick_device

FULL = {"frames": 300, "width": 512, "height": 384, "things": 20, "seconds": 600.0, "eval_every": 60.0,
        "eval_frames": 8, "ray_scale": 1.0}  # fmt: skip
SMOKE = {"frames": 12, "width": 64, "height": 48, "things": 7, "seconds": 3.0, "eval_every": 1.0,
         "eval_frames": 3, "ray_scale": 1 / 16}  # fmt: skip


# ------------------------------------------------------------------------------------------ device and memory
def synchronize(device) -> None:
    """Wait for the device's queued work (CUDA runs asynchronously; a clock read before this lies)."""
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def device_name(device) -> str:
    import torch

    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    return f"{device.type} ({os.cpu_count()} CPUs, {torch.get_num_threads()} torch thread(s))"


class PeakMemory:
    """Peak memory over the stretches between :meth:`reset` and :meth:`read`; :attr:`peak` keeps the largest.

    CUDA: torch.cuda.max_memory_allocated. CPU: the peak RSS of the process (VmHWM of /proc/self/status,
    reset through /proc/self/clear_refs, so that each preset has its own) or, where the kernel does not
    allow that reset, resource.getrusage's ru_maxrss (the whole process so far: a later preset's figure
    then includes the earlier ones'). :attr:`kind` says which.
    """

    def __init__(self, device):
        self.device, self.peak = device, 0
        if device.type == "cuda":
            self.kind = "torch.cuda.max_memory_allocated"
        elif self._reset_hwm():
            self.kind = "peak RSS (VmHWM, reset per preset)"
        else:
            self.kind = "peak RSS (getrusage ru_maxrss, whole process)"

    @staticmethod
    def _reset_hwm() -> bool:
        try:
            Path("/proc/self/clear_refs").write_text("5")
            return "VmHWM" in Path("/proc/self/status").read_text()
        except OSError:
            return False

    def reset(self) -> None:
        import torch

        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
        elif "VmHWM" in self.kind:
            self._reset_hwm()

    def read(self) -> int:
        """Peak bytes since the last :meth:`reset` (also folded into :attr:`peak`)."""
        import torch

        if self.device.type == "cuda":
            value = int(torch.cuda.max_memory_allocated(self.device))
        elif "VmHWM" in self.kind:
            line = next(
                s for s in Path("/proc/self/status").read_text().splitlines() if s.startswith("VmHWM")
            )
            value = int(line.split()[1]) * 1024
        else:
            value = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
        self.peak = max(self.peak, value)
        return value


# ------------------------------------------------------------------------------------------ the scene
def prepare_scene(args) -> tuple[Path, dict]:
    """The scene folder (synthesized unless it holds a scene) and how it came about."""
    from panolift.scene import Scene
    from panolift.synth import SYNTH_PRESETS, synthesize_scene

    name = f"scene-{args.frames}f-{args.width}x{args.height}-{args.things}obj-seed{args.seed}"
    path = args.scene or args.out / (name + ("-light" if args.light else ""))
    if (path / "splits.json").exists():
        scene = Scene(path)
        scene.validate()  # every frame's files: a synthesis killed half-way is reported here
        if not scene.has_machine_labels or not scene.has_ground_truth:
            raise SystemExit(f"gpu_scale: {path} needs 2D labels (m2f_*) and ground truth (rs_*)")
        print(f"reusing the scene {path}", flush=True)
        return path, {"synthesized": False, "synth_seconds": None}
    if path.exists() and any(path.iterdir()):
        raise SystemExit(f"gpu_scale: {path} holds files but no splits.json (a killed synthesis?); remove it")
    config = dataclasses.replace(
        SYNTH_PRESETS["room"], width=args.width, height=args.height, num_frames=args.frames,
        num_things=args.things, seed=args.seed,
    )  # fmt: skip
    if args.light:
        config = dataclasses.replace(config, supersample=1, shadows=False)
    print(f"synthesizing {path} ({args.frames} frames at {args.width}x{args.height}) ...", flush=True)
    start = time.perf_counter()

    def progress(stage: str, done: int, total: int) -> None:
        if done * 10 // total > (done - 1) * 10 // total:  # every tenth of the frames
            print(f"  synth {stage:6s} {done:4d}/{total}  {time.perf_counter() - start:6.0f} s", flush=True)

    result = synthesize_scene(path, config, progress)
    return path, {"synthesized": True, "synth_seconds": result.seconds["total"]}


def spread(names: list[str], count: int) -> list[str]:
    """``count`` names evenly spread over ``names`` (all of them for 0 or more than there are)."""
    if count <= 0 or count >= len(names):
        return list(names)
    return [names[i] for i in np.unique(np.linspace(0, len(names) - 1, count).round().astype(int))]


# ------------------------------------------------------------------------------------------ training
def evaluate(trainer, scene, frames: list[str]) -> dict:
    """PSNR, mIoU and PQ^scene of the field's renderings of ``frames`` at the scene's (native) size."""
    import torch

    from panolift.evaluate import score_labels
    from panolift.render import panoptic_from_rendering, render_image

    field = trainer.field
    field.eval()
    semantics, instance, rgb = {}, {}, {}
    with torch.no_grad():
        for name in frames:
            out = render_image(
                field, scene.intrinsics, scene.pose(name), scene.width, scene.height,
                normalization=trainer.normalization, config=trainer.config.render,
            )  # fmt: skip
            semantics[name], instance[name] = panoptic_from_rendering(out, scene.class_set)
            rgb[name] = np.round(out["rgb"].clamp(0, 1).cpu().numpy() * 255) / 255  # as the PNGs
    field.train()
    scores = score_labels(scene, semantics, instance, rgb, frames=frames)
    return {key: float(scores[key]) for key in ("psnr", "miou", "pq_scene")}


def train_preset(preset: str, args, scene_path: Path, eval_scene, frames: list[str], device) -> dict:
    """Train one preset for ``args.seconds`` of training time; its row of results.json."""
    import torch

    from panolift.config import get_preset
    from panolift.lift import Trainer
    from panolift.runs.validate import check_config
    from panolift.scene import Scene, fit_size

    config = get_preset(preset)
    config.train.rays_scene = max(1, round(config.train.rays_scene * args.ray_scale))
    config.train.rays_image = max(1, round(config.train.rays_image * args.ray_scale))
    check_config(config)
    memory = PeakMemory(device)
    row = {"preset": preset, "status": "ok", "schedule_iterations": config.train.iterations,
           "rays_scene": config.train.rays_scene, "rays_image": config.train.rays_image,
           "memory_kind": memory.kind, "steps": 0, "train_seconds": 0.0, "eval_seconds": 0.0,
           "schedule_done_seconds": None, "curve": []}  # fmt: skip
    out_of_memory = getattr(torch, "OutOfMemoryError", torch.cuda.OutOfMemoryError)
    trainer = None

    def add_point(trainer, seconds: float) -> None:
        start = time.perf_counter()
        if trainer.config.field.instance_embedding:  # the 3D instances of the field as it is now
            trainer.find_instance_clusters(torch.Generator(device=trainer.device).manual_seed(0))
        scores = evaluate(trainer, eval_scene, frames)
        synchronize(device)
        row["eval_seconds"] += time.perf_counter() - start
        row["curve"].append({"seconds": seconds, "step": trainer.step, **scores})
        print(
            f"  [{preset}] {seconds:8.1f} s  step {trainer.step:7d}  PSNR {scores['psnr']:6.2f}  "
            f"mIoU {100 * scores['miou']:5.1f}  PQ^scene {100 * scores['pq_scene']:5.1f}  "
            f"(eval {time.perf_counter() - start:.1f} s)",
            flush=True,
        )

    print(f"[{preset}] {config.train.rays_scene} + {config.train.rays_image} rays a step, schedule of "
          f"{config.train.iterations} iterations", flush=True)  # fmt: skip
    try:
        memory.reset()
        start = time.perf_counter()
        scene = Scene(scene_path, size=fit_size(eval_scene.native_size, width=config.train.image_width))
        trainer = Trainer(scene, scene.normalization(config.train.max_depth), config, device)
        synchronize(device)
        row["setup_seconds"] = time.perf_counter() - start
        memory.read()
        add_point(trainer, 0.0)
        seconds, next_eval = 0.0, args.eval_every
        memory.reset()
        while seconds < args.seconds:
            start = time.perf_counter()
            trainer.train_step()  # reads its losses back: the step's device work has finished
            synchronize(device)
            seconds += time.perf_counter() - start
            row["steps"], row["train_seconds"] = trainer.step, seconds
            if trainer.step == config.train.iterations:
                row["schedule_done_seconds"] = seconds
                if args.stop_at_schedule_end:
                    break
            if args.eval_every > 0 and next_eval <= seconds < args.seconds:
                memory.read()
                add_point(trainer, seconds)
                while next_eval <= seconds:
                    next_eval += args.eval_every
                memory.reset()
        memory.read()
        add_point(trainer, seconds)
    except out_of_memory as exc:
        row["status"] = f"out of memory at step {trainer.step if trainer else 0}"
        print(f"[{preset}] {row['status']}: {str(exc).splitlines()[0]}", flush=True)
    row["peak_memory_bytes"] = memory.peak
    row["its_per_second"] = row["steps"] / row["train_seconds"] if row["train_seconds"] > 0 else 0.0
    row["final"] = {k: v for k, v in row["curve"][-1].items() if k != "seconds"} if row["curve"] else None
    trainer = None  # free the field and its optimizers before the next preset
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return row


# ------------------------------------------------------------------------------------------ results
def quality_target(rows: list[dict], psnr_tolerance: float, miou_tolerance: float) -> dict | None:
    """PSNR and mIoU that a preset must reach: the best final values of the presets less the tolerances."""
    finals = [r["final"] for r in rows if r["final"] is not None]
    psnr = [f["psnr"] for f in finals if math.isfinite(f["psnr"])]
    miou = [f["miou"] for f in finals if math.isfinite(f["miou"])]
    if not psnr or not miou:
        return None
    return {"psnr": max(psnr) - psnr_tolerance, "miou": max(miou) - miou_tolerance / 100}


def time_to_quality(curve: list[dict], target: dict | None) -> dict | None:
    """The first point of ``curve`` that reaches ``target`` (its seconds and step), or None."""
    for point in curve if target is not None else []:
        if point["psnr"] >= target["psnr"] and point["miou"] >= target["miou"]:
            return {"seconds": point["seconds"], "step": point["step"]}
    return None


def gib(value: int) -> str:
    return f"{value / (1 << 30):.2f} GiB"


def report(results: dict) -> list[str]:
    """results.md: a header, one row per preset, and each preset's curve."""
    scene, target, machine = results["scene"], results["target"], results["machine_labels"]
    how = f"synthesized in {scene['synth_seconds']:.0f} s" if scene["synthesized"] else "reused"
    lines = [
        "# GPU scale: presets trained for equal wall time",
        "",
        f"- device: {results['device_name']}, torch {results['torch']}",
        f"- scene: {scene['path']} ({how}): {scene['frames']} frames ({scene['train_frames']} train, "
        f"{scene['test_frames']} test) at {scene['width']}x{scene['height']}"
        + (f", {scene['objects']} objects" if scene["objects"] is not None else ""),
        f"- budget: {results['seconds']:g} s of training per preset (evaluation not counted), evaluated "
        f"every {results['eval_every']:g} s on {len(results['eval_frames'])} test frames; rays per step "
        f"x{results['ray_scale']:g}",
        f"- 2D machine labels on those frames: mIoU {100 * machine['miou']:.1f}, "
        f"PQ^scene {100 * machine['pq_scene']:.1f}",
    ]
    if target is not None:
        lines.append(
            f"- quality target: PSNR >= {target['psnr']:.2f} dB and mIoU >= {100 * target['miou']:.1f} "
            f"(best final - {results['psnr_tolerance']:g} dB, - {results['miou_tolerance']:g} points)"
        )
    lines += [
        "",
        "| preset | steps (schedule) | it/s | peak memory | PSNR | mIoU | PQ^scene | time to quality | status |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in results["presets"].values():
        final = row["final"] or {"psnr": math.nan, "miou": math.nan, "pq_scene": math.nan}
        reached = row["time_to_quality"]
        reached = f"{reached['seconds']:.1f} s (step {reached['step']})" if reached else "not reached"
        done = row["schedule_done_seconds"]
        schedule = f"{row['schedule_iterations']}" + (f", done at {done:.0f} s" if done is not None else "")
        lines.append(
            f"| {row['preset']} | {row['steps']} ({schedule}) | {row['its_per_second']:.2f} | "
            f"{gib(row['peak_memory_bytes'])} | {final['psnr']:.2f} | {100 * final['miou']:.1f} | "
            f"{100 * final['pq_scene']:.1f} | {reached} | {row['status']} |"
        )
    kinds = sorted({row["memory_kind"] for row in results["presets"].values()})
    lines += ["", f"Peak memory: {', '.join(kinds)}, during setup and training."]
    for row in results["presets"].values():
        lines += [
            "",
            f"## {row['preset']}",
            "",
            "| train s | step | PSNR | mIoU | PQ^scene |",
            "|---|---|---|---|---|",
        ]
        lines += [
            f"| {p['seconds']:.1f} | {p['step']} | {p['psnr']:.2f} | {100 * p['miou']:.1f} | "
            f"{100 * p['pq_scene']:.1f} |"
            for p in row["curve"]
        ]
    return lines


def finite_or_none(value):
    """``value`` with NaN and infinities as None (results.json stays strict JSON)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: finite_or_none(v) for k, v in value.items()}
    if isinstance(value, list):
        return [finite_or_none(v) for v in value]
    return value


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_device_argument(parser)
    parser.add_argument("--frames", type=int, default=None, help="frames of the synthetic scene (300)")
    parser.add_argument("--width", type=int, default=None, help="image width (512)")
    parser.add_argument("--height", type=int, default=None, help="image height (384)")
    parser.add_argument("--things", type=int, default=None, help="objects in the room (20)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the synthetic scene")
    parser.add_argument("--light", action="store_true", help="synthesize without shadows (faster)")
    parser.add_argument("--seconds", type=float, default=None, help="training seconds per preset (600)")
    parser.add_argument("--presets", default="fast,paper", help="comma-separated presets (fast,paper)")
    parser.add_argument(
        "--eval-every", type=float, default=None, help="seconds of training between evaluations (60)"
    )
    parser.add_argument("--eval-frames", type=int, default=None, help="test frames to evaluate (8; 0: all)")
    parser.add_argument(
        "--ray-scale", type=float, default=None, help="multiplies every preset's rays per step (1)"
    )
    parser.add_argument(
        "--stop-at-schedule-end", action="store_true", help="stop a preset when its schedule ends"
    )
    parser.add_argument("--psnr-tolerance", type=float, default=1.0, help="dB below the best final PSNR")
    parser.add_argument("--miou-tolerance", type=float, default=2.0, help="points below the best final mIoU")
    parser.add_argument(
        "--scene", type=Path, default=None, help="scene folder to reuse, or to synthesize into"
    )
    parser.add_argument(
        "--out", type=Path, default=Path("gpu_scale_out"), help="folder for results and the scene"
    )
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    parser.add_argument("--smoke", action="store_true", help="the small CPU configuration (see above)")
    args = parser.parse_args()
    for key, value in (SMOKE if args.smoke else FULL).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if min(args.frames, args.width, args.height) < 8 or args.things < 0:
        parser.error("--frames, --width and --height must be at least 8, --things at least 0")
    if args.seconds <= 0 or args.eval_every < 0 or args.ray_scale <= 0:
        parser.error("--seconds and --ray-scale must be positive, --eval-every at least 0")
    from panolift.config import PRESETS

    args.presets = [p.strip() for p in args.presets.split(",") if p.strip()]
    unknown = [p for p in args.presets if p not in PRESETS]
    if unknown or not args.presets:
        parser.error(f"--presets: unknown {unknown or 'none given'}; choose from {', '.join(PRESETS)}")
    return args


def main() -> None:
    args = parse_args()
    import torch

    from panolift.evaluate import score_machine_labels
    from panolift.scene import Scene

    if args.threads > 0:
        torch.set_num_threads(args.threads)
    device = pick_device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("gpu_scale: --device cuda, but torch sees no CUDA device")
    args.out.mkdir(parents=True, exist_ok=True)
    scene_path, synth = prepare_scene(args)
    scene = Scene(scene_path)
    frames = spread(scene.test_frames, args.eval_frames)
    machine = score_machine_labels(scene, frames=frames)
    objects = (scene.segmentation_data.get("synth_config") or {}).get("num_things")
    print(
        f"device {device_name(device)}; scene {len(scene.frame_names)} frames at {scene.width}x{scene.height}; "
        f"{args.seconds:g} s per preset, evaluation every {args.eval_every:g} s on {len(frames)} test frames; "
        f"2D labels mIoU {100 * machine['miou']:.1f}, PQ^scene {100 * machine['pq_scene']:.1f}",
        flush=True,
    )
    rows = [train_preset(preset, args, scene_path, scene, frames, device) for preset in args.presets]
    target = quality_target(rows, args.psnr_tolerance, args.miou_tolerance)
    for row in rows:
        row["time_to_quality"] = time_to_quality(row["curve"], target)
    results = {
        "device": device.type,
        "device_name": device_name(device),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "scene": {
            "path": str(scene_path),
            **synth,
            "frames": len(scene.frame_names),
            "train_frames": len(scene.train_frames),
            "test_frames": len(scene.test_frames),
            "width": scene.width,
            "height": scene.height,
            "objects": objects,
        },  # fmt: skip
        "seconds": args.seconds,
        "eval_every": args.eval_every,
        "eval_frames": frames,
        "ray_scale": args.ray_scale,
        "psnr_tolerance": args.psnr_tolerance,
        "miou_tolerance": args.miou_tolerance,
        "machine_labels": {key: float(machine[key]) for key in ("miou", "pq_scene")},
        "target": target,
        "presets": {row["preset"]: row for row in rows},
    }
    text = "\n".join(report(results))
    print("\n" + text)
    (args.out / "results.json").write_text(json.dumps(finite_or_none(results), indent=1) + "\n")
    (args.out / "results.md").write_text(text + "\n")
    print(f"\nwrote {args.out / 'results.json'} and {args.out / 'results.md'}")


if __name__ == "__main__":
    main()
