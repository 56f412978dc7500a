"""Label votes on runs trained already: each run's test views scored with the votes' share at each of
--shares (0: the semantic head alone, as the run was trained), one row per run and share.

    .venv/bin/python benchmarks/label_votes.py RUN [RUN ...] [--shares 0,0.4] [--rays N] [--voxels N]
        [--threads 2] [--json FILE]

Each RUN is a trained run folder whose scene has ground truth (the suite's, `panolift synth`'s). Its last
checkpoint is copied to a temporary folder and resumed; the training labels are fused on its surfaces
(`Trainer.fuse_label_votes`, what training does at its end with `--field.label-votes` > 0, here after the
run's instance clusters, which training finds after the votes); then for each share the checkpoint is
written with that share, the test views rendered (`panolift render`) and scored (`panolift eval`'s
numbers). What this measures is the votes alone, on the same geometry and heads: no training differs.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

from common import score_run


def copy_last_checkpoint(run: Path, copy: Path) -> Path:
    """Copy run folder ``run`` to ``copy`` without its renders and with its latest checkpoint only."""
    latest = json.loads((run / "checkpoints" / "latest.json").read_text())["file"]

    def skip(folder: str, names: list[str]) -> list[str]:
        if Path(folder) == run:
            return [n for n in names if n == "render"]
        if Path(folder) == run / "checkpoints":
            return [n for n in names if n.endswith(".safetensors") and n != latest]
        return []

    return Path(shutil.copytree(run, copy, ignore=skip))


def measure(run: Path, shares: list[float], device: str, rays: int = 0, voxels: int = 0) -> list[dict]:
    """Rows (run, share, miou, pq, pq_things, psnr, fuse_seconds, voted_nodes) of one run; ``rays`` > 0
    overrides the run's ``field.label_vote_rays``, ``voxels`` > 0 its ``field.label_vote_voxels``."""
    from panolift.runs import TrainingRun
    from panolift.runs.folder import read_run_info
    from panolift.scene import Scene

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        copy = copy_last_checkpoint(run, Path(tmp) / run.name)
        info = read_run_info(copy)
        with TrainingRun(info.scene_path, copy, resume=True, device=device) as training:
            trainer = training.trainer
            if rays:
                trainer.config.field.label_vote_rays = rays
            if voxels:
                trainer.config.field.label_vote_voxels = voxels
            start = time.perf_counter()
            trainer.fuse_label_votes()
            seconds = time.perf_counter() - start
            nodes = int(trainer.field.label_vote_nodes.shape[0])
            scene = Scene(info.scene_path, size=info.image_size)
            for share in shares:
                trainer.config.field.label_votes = share
                training.checkpoint(trainer)
                shutil.rmtree(copy / "render", ignore_errors=True)
                scores = score_run(copy, scene, device=device)
                rows.append({
                    "run": str(run), "share": share, "miou": scores["miou"], "pq": scores["pq_scene"],
                    "pq_things": scores["pq_scene_things"], "psnr": scores["psnr"], "fuse_seconds": seconds,
                    "voted_nodes": nodes,
                })  # fmt: skip
    return rows


def table(rows: list[dict]) -> list[str]:
    """Markdown rows: run, share, mIoU, PQ^scene, thing PQ^scene (%), PSNR and the change from share 0."""
    lines = [
        "| run | share | mIoU | PQ^scene | thing PQ^scene | PSNR | mIoU / PQ^scene vs share 0 | fuse s | voted nodes |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    base = {r["run"]: r for r in rows if r["share"] == 0}
    for r in rows:
        b = base.get(r["run"])
        delta = (
            "-"
            if b is None or r is b
            else f"{100 * (r['miou'] - b['miou']):+.1f} / {100 * (r['pq'] - b['pq']):+.1f}"
        )
        lines.append(
            f"| {Path(r['run']).name} | {r['share']:g} | {100 * r['miou']:.1f} | {100 * r['pq']:.1f} | "
            f"{100 * r['pq_things']:.1f} | {r['psnr']:.2f} | {delta} | {r['fuse_seconds']:.1f} | {r['voted_nodes']} |"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("runs", nargs="+", type=Path, help="trained run folders (scenes with ground truth)")
    parser.add_argument("--shares", default="0,0.4", help="the votes' shares to score, comma-separated")
    parser.add_argument("--rays", type=int, default=0, help="most training rays fused (0: the run's setting)")
    parser.add_argument(
        "--voxels", type=int, default=0, help="the vote lattice's voxels a side (0: the run's setting)"
    )
    parser.add_argument("--threads", type=int, default=2, help="CPU threads for torch")
    parser.add_argument("--device", default="cpu", help="cpu, cuda, ...")
    parser.add_argument("--json", type=Path, help="also write the rows here")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    shares = [float(s) for s in args.shares.split(",")]
    if any(not 0 <= s <= 1 for s in shares):
        sys.exit(f"--shares {args.shares}: each share must be in [0, 1]")
    rows = []
    for run in args.runs:
        if not (run / "checkpoints" / "latest.json").is_file():
            sys.exit(f"{run}: not a trained run folder (no checkpoints/latest.json)")
        rows += measure(run, shares, args.device, args.rays, args.voxels)
        print(f"{run}: done", file=sys.stderr, flush=True)
    print("\n".join(table(rows)))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
