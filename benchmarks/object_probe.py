"""Why a trained run loses a class: for each true class of a synthetic scene, on the training views (the
views the run was fitted to), what the 2D labels said, what the run renders, where the rendered weight of
its pixels lies against the true depth, and what the semantic head says at the true surface.

    .venv/bin/python benchmarks/object_probe.py RUN [--classes chair,table] [--frames 24] [--threads 2]

One row per class (largest first). Reading a row: "2D right" is the share of the class's pixels that the 2D
labels give the class, "rendered right" the share the run renders as it; "at / behind" the mean share of
each ray's weight within 5% of the true depth and beyond it (weight behind = the object is seen through,
so the wall behind decides the rendered class); "head right" the share of true surface points where the
semantic head itself says the class. Rendered right far below 2D right with the head right low too means
the head was taught another class there (the segment-consistency loss pushing a half-transparent object to
the class behind it did this on the suite's seed 0, SUITE.md sixteenth round); with the head right high
but much weight behind, the geometry is missing. Needs the scene's ground truth (`rs_semantics/`,
`depth/`), as every synthetic scene has.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch


def probe(run_dir: Path, classes: list[str] | None = None, max_frames: int = 24) -> list[dict]:
    """Rows of the table (dicts) for the classes of ``run_dir``'s scene (or ``classes``)."""
    from panolift.render.renderer import evaluate_outputs, render_rays
    from panolift.runs import load_run
    from panolift.scene import rays_through_pixels

    loaded = load_run(run_dir, "cpu")
    scene = loaded.open_scene(loaded.image_size)
    names = list(scene.train_frames)
    names = [names[i] for i in np.unique(np.linspace(0, len(names) - 1, max_frames).round().astype(int))]
    class_names = loaded.class_set.names
    wanted = None if classes is None else {class_names.index(c) for c in classes if c in class_names}
    if classes is not None and len(wanted) != len(classes):
        unknown = sorted(set(classes) - set(class_names))
        sys.exit(f"object_probe: unknown classes {unknown} (the scene's: {', '.join(class_names[1:])})")
    K = torch.as_tensor(scene.intrinsics, dtype=torch.float32)
    poses = loaded.normalization.apply_to_poses(np.stack([scene.pose(n) for n in names]))
    scale = loaded.normalization.scale
    sums: dict[int, dict[str, float]] = {}
    for frame, name in enumerate(names):
        truth = scene.ground_truth(name)
        depth = scene.depth(name)
        if truth is None or depth is None:
            sys.exit(f"object_probe: {scene.root}: frame {name} has no ground truth (rs_semantics/, depth/)")
        labels = scene.machine_label_maps(name, tta=loaded.config.loss.use_tta)[0].reshape(-1)
        classes_here = truth.semantics.reshape(-1)
        z = depth.reshape(-1)
        for k in np.unique(classes_here):
            if k == 0 or (wanted is not None and k not in wanted):
                continue
            pixels = np.nonzero((classes_here == k) & (z > 0))[0]
            if pixels.size == 0:
                continue
            x = torch.as_tensor(pixels % scene.width, dtype=torch.float32) + 0.5
            y = torch.as_tensor(pixels // scene.width, dtype=torch.float32) + 0.5
            c2w = torch.as_tensor(poses[frame], dtype=torch.float32)
            origins, dirs = rays_through_pixels(K, c2w, x, y)
            along = (torch.stack([x, y, torch.ones_like(x)], -1) @ torch.linalg.inv(K).T).norm(dim=-1)
            t_true = torch.as_tensor(z[pixels]) * along * scale  # distance along the unit ray, field units
            with torch.no_grad():
                out = render_rays(
                    loaded.field,
                    origins,
                    dirs,
                    loaded.config.render,
                    return_samples=True,
                    outputs=("semantics",),
                )
                surface = origins + dirs * t_true[:, None]
                head = evaluate_outputs(loaded.field, surface, dirs, ("semantics",)).semantics.argmax(-1)
            w, t = out["weights"], out["t"]
            near, far = 0.95 * t_true[:, None], 1.05 * t_true[:, None]
            row = sums.setdefault(
                int(k), dict.fromkeys(("pixels", "label", "rendered", "at", "behind", "head"), 0.0)
            )
            row["pixels"] += pixels.size
            row["label"] += float((labels[pixels] == k).sum())
            row["rendered"] += float((out["semantics"].argmax(-1) == k).sum())
            row["at"] += float((w * ((t >= near) & (t <= far))).sum())
            row["behind"] += float((w * (t > far)).sum())
            row["head"] += float((head == k).sum())
    rows = []
    for k, s in sorted(sums.items(), key=lambda item: -item[1]["pixels"]):
        n = s["pixels"]
        rows.append(
            {"class": class_names[k], "pixels": int(n), **{key: s[key] / n for key in s if key != "pixels"}}
        )
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--classes", default="", help="comma-separated class names (default: every class)")
    parser.add_argument("--frames", type=int, default=24, help="training views, evenly spaced (default 24)")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    args = parser.parse_args(argv)
    torch.set_num_threads(max(1, args.threads))
    classes = [c.strip() for c in args.classes.split(",") if c.strip()] or None
    rows = probe(args.run, classes, args.frames)
    print(
        "| class | pixels | 2D right | rendered right | weight at true depth | weight behind | head right |"
    )
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['class']} | {r['pixels']} | {100 * r['label']:.0f}% | {100 * r['rendered']:.0f}% | "
            f"{r['at']:.2f} | {r['behind']:.2f} | {100 * r['head']:.0f}% |"
        )


if __name__ == "__main__":
    main()
