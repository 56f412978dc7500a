"""How well the depths matched between training views (`src/panolift/lift/stereo.py`) agree with the
true depth of synthetic scenes: matched pixels a frame, median relative error, the shares within 5% and
15% and beyond 30%, and the time the matching takes. One row per scene.

    .venv/bin/python benchmarks/matched_depths.py SCENE [SCENE ...] [--threads 1]

Scenes need ground-truth depth (`depth/`, as every synthetic scene has); what training uses is the same
call (`panolift.lift.stereo.match_depths` on the training frames, in the box [-1, 1]^3 of the first step).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch


def measure(path: Path) -> dict:
    """Match the training frames of the scene at ``path`` and score the depths against its ground truth."""
    from panolift.config import RenderConfig
    from panolift.lift.stereo import MatchConfig, grayscale, match_depths
    from panolift.scene import Scene

    scene = Scene(path)
    names = list(scene.train_frames)
    normalization = scene.normalization(5.0)
    c2w = torch.as_tensor(normalization.apply_to_poses(np.stack([scene.pose(n) for n in names])))
    K = torch.as_tensor(scene.intrinsics, dtype=torch.float32)
    gray = torch.stack([grayscale(scene.rgb(n)) for n in names])
    start = time.perf_counter()
    box = torch.tensor([[-1.0] * 3, [1.0] * 3])
    matched = match_depths(gray, K, c2w.float(), box, RenderConfig().near, MatchConfig())
    seconds = time.perf_counter() - start
    x = (matched.pixels % scene.width).float() + 0.5
    y = (matched.pixels // scene.width).float() + 0.5
    ray_length = (torch.stack([x, y, torch.ones_like(x)], -1) @ torch.linalg.inv(K).T).norm(dim=-1)
    truth = np.zeros(len(matched), dtype=np.float32)
    for frame in matched.frames.unique().tolist():
        depth = scene.depth(names[frame])
        if depth is None:
            sys.exit(f"{path}: no ground-truth depth for frame {names[frame]} (depth/ is needed)")
        rows = (matched.frames == frame).numpy()
        truth[rows] = depth.reshape(-1)[matched.pixels[rows].numpy()]
    truth = torch.from_numpy(truth)
    known = truth > 0
    error = ((matched.depth / normalization.scale / ray_length)[known] / truth[known] - 1).abs()

    def share(mask: torch.Tensor) -> float:
        return float(mask.float().mean()) if error.numel() else float("nan")

    return {
        "scene": path.name,
        "frames": len(names),
        "size": f"{scene.width}x{scene.height}",
        "per_frame": len(matched) / max(1, len(names)),
        "median": float(error.median()) if error.numel() else float("nan"),
        "within5": share(error < 0.05),
        "within15": share(error < 0.15),
        "beyond30": share(error > 0.3),
        "seconds": seconds,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("scenes", nargs="+", type=Path)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    args = parser.parse_args(argv)
    torch.set_num_threads(max(1, args.threads))
    print(
        "| scene | training frames | size | matched a frame | median error | within 5% | within 15% | > 30% off | s |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for path in args.scenes:
        r = measure(path)
        print(
            f"| {r['scene']} | {r['frames']} | {r['size']} | {r['per_frame']:.0f} | {100 * r['median']:.1f}% | "
            f"{100 * r['within5']:.0f}% | {100 * r['within15']:.0f}% | {100 * r['beyond30']:.1f}% | "
            f"{r['seconds']:.1f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
