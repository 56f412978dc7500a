"""Viewer latencies: how long the first image and the sharp image take after a camera move, and what live
viewing costs training.

    .venv/bin/python benchmarks/viewer_latency.py --run RUN [--threads 2] [--sizes 192x144 512x384]
    .venv/bin/python benchmarks/viewer_latency.py --run RUN --training SCENE [--iterations 200]

Latency: the viewer's own renderer thread (progressive passes, preview settings before the last pass)
renders the run's training views in turn, each as a fresh camera move over a canvas of the given size
with the sharpest pass at that size; printed: the median time to the first image and to the sharp one,
their sizes, and a plain `render_image` of the same size with the run's settings.

Training (--training): the `fast` preset trains on SCENE with the live viewer (`panolift train --viewer`)
open in headless Chromium, in alternating blocks with and without its updates; printed: the median seconds
per iteration of each and the slowdown. Not part of the tests (minutes of CPU); times depend on the machine.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import threading
import time
from pathlib import Path

from common import add_device_argument, pick_device


def measure_latency(run: Path, size: tuple[int, int], device, moves: int) -> dict:
    """Median seconds to the first and to the sharp image over ``moves`` camera moves."""
    from panolift.render import render_image
    from panolift.view import (
        ProgressiveConfig,
        ProgressiveRenderer,
        Throughput,
        ViewerSession,
        ViewRequest,
        fov_from_intrinsics,
        intrinsics_from_fov,
        render_view,
    )
    from panolift.view.progressive import preview_render_config

    session = ViewerSession.open(run, device=device)
    config = ProgressiveConfig(max_side=max(size))
    base = session.base.config.render

    def render(K, c2w, width, height, preview):
        settings = preview_render_config(base, config) if preview else base
        return render_view(
            session.field, K, c2w, width, height, session.normalization, session.thing_mask, settings
        )

    events: list[tuple[float, object]] = []
    done = threading.Event()

    def publish(frame):
        events.append((time.perf_counter(), frame))
        if frame.final:
            done.set()

    renderer = ProgressiveRenderer(render, publish, config, Throughput()).start()
    cameras = session.cameras()
    first, sharp, first_sizes = [], [], []
    try:
        for n in range(moves + 1):  # the first move warms up (and measures the field's speed)
            camera = cameras[n % len(cameras)]
            events.clear()
            done.clear()
            start = time.perf_counter()
            renderer.request(ViewRequest(camera.c2w, fov_from_intrinsics(camera.K, camera.height), size))
            done.wait(600)
            if n == 0:
                continue
            first.append(events[0][0] - start)
            first_sizes.append(events[0][1].view.size)
            sharp.append(events[-1][0] - start)
    finally:
        renderer.stop()
    camera = cameras[0]
    K = intrinsics_from_fov(fov_from_intrinsics(camera.K, camera.height), *size)
    start = time.perf_counter()
    render_image(session.field, K, camera.c2w, *size, normalization=session.normalization)
    plain = time.perf_counter() - start
    return {
        "size": size, "first": statistics.median(first), "first_size": first_sizes[len(first_sizes) // 2],
        "sharp": statistics.median(sharp), "plain": plain, "rays_per_second": renderer.throughput.rays_per_second,
    }  # fmt: skip


def browse(url: str, seconds: float, stop: threading.Event) -> None:
    """Keep ``url`` open in headless Chromium, turning the camera a little every second."""
    from playwright.sync_api import sync_playwright

    flags = [
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
    ]  # fmt: skip
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=shutil.which("chromium"), args=flags)
        page = browser.new_page(viewport={"width": 960, "height": 600})
        page.goto(url)
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and not stop.is_set():
            time.sleep(1.0)
        browser.close()


def measure_training(scene: Path, iterations: int, block: int, device, port: int) -> dict:
    """Seconds per iteration of `fast` training in alternating blocks of ``block`` steps: with the live
    viewer updating (a browser connected) and without (updates off, renderers idle before the block
    starts), in one process, so that both see the same machine and the same phases of training."""
    from dataclasses import replace

    from panolift.config import get_preset
    from panolift.runs import TrainingRun
    from panolift.view import LiveViewer, live_viewer_config

    config = get_preset("fast")
    config = replace(config, train=replace(config.train, iterations=iterations + 50))
    out = Path(tempfile.mkdtemp(prefix="viewer_bench_")) / "run"
    times: dict[bool, list[float]] = {False: [], True: []}
    stop = threading.Event()
    with TrainingRun(scene, out, config, device=device) as training:
        trainer = training.trainer
        live = LiveViewer(training, live_viewer_config("127.0.0.1", port))
        threading.Thread(target=browse, args=(live.url, 3600, stop), daemon=True).start()
        while not live.viewer.clients:
            time.sleep(0.2)
        trainer.run(None, stop_at=50)  # warm up (first occupancy update, allocations)
        busy = [v.renderer for v in live.viewer.clients.values()]
        for number in range(iterations // block):
            viewing = number % 2 == 1
            while not viewing and not all(r.idle for r in busy):
                time.sleep(0.05)
            start = time.perf_counter()
            trainer.run((lambda *_: live.update()) if viewing else None, stop_at=trainer.step + block)
            times[viewing].append((time.perf_counter() - start) / block)
        stats = {
            "snapshots": live.snapshots,
            "snapshot_ms": 1000 * live.snapshot_seconds / max(live.snapshots, 1),
        }
        stop.set()
        live.close()
    shutil.rmtree(out.parent, ignore_errors=True)
    return {"off": statistics.median(times[False]), "on": statistics.median(times[True]), **stats}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", type=Path, required=True, help="a trained run (e.g. demo_out/run)")
    parser.add_argument("--sizes", nargs="+", default=["192x144", "512x384"], help="canvas sizes WxH")
    parser.add_argument("--moves", type=int, default=5, help="camera moves per size")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    parser.add_argument("--training", type=Path, default=None, help="also measure live viewing on this scene")
    parser.add_argument("--iterations", type=int, default=400, help="training steps measured (--training)")
    parser.add_argument("--block", type=int, default=50, help="steps per block with / without the viewer")
    parser.add_argument("--port", type=int, default=8097)
    add_device_argument(parser)
    args = parser.parse_args()
    import torch

    if args.threads > 0:
        torch.set_num_threads(args.threads)
    device = pick_device(args.device)
    print(f"device {device}, {torch.get_num_threads()} torch threads, run {args.run}")
    print("| canvas | first image | its size | sharp image | plain render_image (run settings) |")
    print("|---|---|---|---|---|")
    for text in args.sizes:
        size = tuple(int(v) for v in text.split("x"))
        r = measure_latency(args.run, size, device, args.moves)
        w, h = r["first_size"]
        print(
            f"| {size[0]}x{size[1]} | {r['first']:.2f} s | {w}x{h} | {r['sharp']:.2f} s | {r['plain']:.2f} s |"
        )
    if args.training is not None:
        r = measure_training(args.training, args.iterations, args.block, device, args.port)
        print(
            f"training (fast preset, blocks of {args.block} steps): {r['off']:.4f} s/it without viewer updates, "
            f"{r['on']:.4f} s/it with the live viewer updating in Chromium ({100 * (r['on'] / r['off'] - 1):+.1f}%); "
            f"{r['snapshots']} snapshots of {r['snapshot_ms']:.0f} ms"
        )


if __name__ == "__main__":
    main()
