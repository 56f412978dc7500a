"""`panolift render RUN`: rgb, depth, semantics, instances and overlays of a trained run (and videos)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal


def render(
    run: Path,
    /,
    split: Literal["test", "train"] = "test",
    trajectory: Path | None = None,
    out: Path | None = None,
    width: int = 0,
    device: str = "auto",
    threads: int = 0,
    min_segment_share: float | None = None,
    precision: Literal["run", "auto", "float32", "bfloat16"] = "run",
    label_snap_radius: float | None = None,
) -> None:
    """Render a trained run: RUN/render/<split>/{rgb,depth,semantics,instance,overlay}/<frame>.png.

    Args:
        run: a run folder written by `panolift train` (or `panolift edit`).
        split: which frames of the run's scene to render.
        trajectory: render these camera poses instead (JSON list of 4x4 camera-to-world matrices in world
            units, or a folder of pose .txt files); also writes video.mp4.
        out: output folder (default RUN/render/<split>, or RUN/render/trajectory).
        width: image width (0: the scene's native size; the height follows the aspect ratio).
        device: auto (cuda if available, else cpu), cpu, cuda, ...
        threads: CPU threads for torch (0: chosen by timing the first chunks of rays at 1, half and all
            of the CPUs, and again when the machine's load changes).
        min_segment_share: a thing segment of a frame under this share of its pixels (a speck), and a
            class that all the rendered frames together show on fewer pixels than that share of one frame
            (a stray class), take the class and id of the pixels around them (default: the run's setting,
            1e-3 for `fast`; 0 keeps every segment and every class). Runs trained since stop 70 also merge
            a class shown on under `render.unlabelled_class_share` (5%) of one frame, at least half of it
            on surfaces no training view labelled or at most a tenth of it on surfaces they did (the rest
            on no surface): the heads' guess.
        precision: the MLPs' precision (run: the run's setting, `auto` for `fast`: bfloat16 where the
            device multiplies it natively, else float32; float32 renders exactly as training sees it).
        label_snap_radius: the labels' segments snap to the edges of the rendered colour (a joint
            bilateral vote) over a window of this share of the image width on each side (default: the
            run's setting, 0.0125 for `fast` and `quick` since stop 73, 2 pixels at 160-192; 0: off, as
            runs trained before).
    """
    from tqdm import tqdm

    from panolift.commands.common import pick_device, set_threads
    from panolift.runs import render_run

    device = pick_device(device)
    tuner = set_threads(threads, block=3, rounds=1, interval=200) if device.type == "cpu" else None
    bars = []  # made at the first rendered frame: a run that cannot be read ends with one line, no bar

    def progress(done: int, total: int, name: str) -> None:
        if not bars:
            bars.append(tqdm(total=total, unit="frame", dynamic_ncols=True))
        bars[0].update(done - bars[0].n)

    try:
        folder = render_run(
            run,
            split,
            out,
            trajectory,
            width,
            device,
            progress,
            tuner=tuner,
            min_segment_share=min_segment_share,
            precision=None if precision == "run" else precision,
            label_snap_radius=label_snap_radius,
        )
    finally:
        for bar in bars:
            bar.close()
    print(f"rendered to {folder}")
